// Scores for clusterings and similarity functions.
//
// Clusterings are given as one label per item (any integer; only equality
// matters). B-cubed follows Bagga & Baldwin (1998); the adjusted Rand index
// follows Hubert & Arabie (1985).
#ifndef NEWSDEDUP_TOOLS_QUALITY_SCORES_H_
#define NEWSDEDUP_TOOLS_QUALITY_SCORES_H_

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

// Nearest-neighbour recall against exact search, summed over queries, as
// ann-benchmarks counts it: a returned neighbour is right when its exact
// score reaches the k-th best exact score less `tolerance`, since vectors
// that tie with the k-th (exact copies of one headline, say) are equally
// right answers. The share of returned ids that are the exact ones, which
// counts such ties as misses, is kept beside it.
class NeighborRecall {
 public:
  explicit NeighborRecall(float tolerance = 1e-3f) : tolerance_(tolerance) {}

  // One query: the ids of the exact top k, best first, with the k-th best
  // exact score; the ids an approximate search returned, each with its
  // exact score. A query without exact neighbours counts for nothing.
  void Add(absl::Span<const int64_t> exact_ids, float kth_exact_score,
           absl::Span<const int64_t> returned_ids,
           absl::Span<const float> returned_exact_scores);

  // Right neighbours / exact neighbours; 0 before any.
  double recall() const;
  // Returned exact ids / exact neighbours; 0 before any.
  double same_ids() const;

 private:
  const float tolerance_;
  int64_t right_ = 0, same_ids_ = 0, exact_ = 0;
};

// Inner product of two vectors of the same length.
float DotProduct(absl::Span<const float> a, absl::Span<const float> b);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_QUALITY_SCORES_H_
