// Scores for clusterings and similarity functions.
//
// Clusterings are given as one label per item (any integer; only equality
// matters). B-cubed follows Bagga & Baldwin (1998); the adjusted Rand index
// follows Hubert & Arabie (1985).
#ifndef NEWSDEDUP_TOOLS_METRICS_H_
#define NEWSDEDUP_TOOLS_METRICS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace newsdedup {

struct BCubed {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
};

// `gold` and `predicted` have one label per item, same length.
BCubed BCubedScores(absl::Span<const int64_t> gold,
                    absl::Span<const int64_t> predicted);

double AdjustedRandIndex(absl::Span<const int64_t> gold,
                         absl::Span<const int64_t> predicted);

// Pearson correlation; 0 when either side is constant.
double PearsonCorrelation(absl::Span<const double> x,
                          absl::Span<const double> y);

// The value below which a share `p` (0..1) of `values` lies (nearest
// rank); 0 for no values. Reorders `values` (std::nth_element).
double Percentile(std::vector<double>* values, double p);

// Area under the ROC curve of `scores` separating positives from negatives
// (ties count half). 0.5 when a class is empty.
double RocAuc(absl::Span<const double> scores,
              const std::vector<bool>& positive);

// Nearest-neighbour recall as ann-benchmarks counts it: of the exact scores
// of the neighbours an approximate search returned, how many reach the k-th
// best exact score less `tolerance`. Vectors that tie with the k-th (exact
// copies of one headline, say) are equally right answers, which comparing
// ids alone would count as misses. Divide by k for recall@k.
int64_t NeighborsWithinTolerance(absl::Span<const float> returned_scores,
                                 float kth_exact_score,
                                 float tolerance = 1e-3f);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_METRICS_H_
