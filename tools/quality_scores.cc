#include "tools/quality_scores.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace newsdedup {
namespace {

struct Contingency {
  absl::flat_hash_map<std::pair<int64_t, int64_t>, int64_t> pairs;
  absl::flat_hash_map<int64_t, int64_t> gold;
  absl::flat_hash_map<int64_t, int64_t> predicted;
};

Contingency Count(absl::Span<const int64_t> gold,
                  absl::Span<const int64_t> predicted) {
  Contingency c;
  for (size_t i = 0; i < gold.size(); ++i) {
    ++c.pairs[{gold[i], predicted[i]}];
    ++c.gold[gold[i]];
    ++c.predicted[predicted[i]];
  }
  return c;
}

double Choose2(double n) { return n * (n - 1) / 2; }

}  // namespace

BCubed BCubedScores(absl::Span<const int64_t> gold,
                    absl::Span<const int64_t> predicted) {
  BCubed b;
  if (gold.empty()) return b;
  const Contingency c = Count(gold, predicted);
  // Each of the v items in cell (g, p) has precision v/|p| and recall v/|g|.
  for (const auto& [cell, v] : c.pairs) {
    b.precision += static_cast<double>(v) * v / c.predicted.at(cell.second);
    b.recall += static_cast<double>(v) * v / c.gold.at(cell.first);
  }
  b.precision /= gold.size();
  b.recall /= gold.size();
  b.f1 = b.precision + b.recall > 0
             ? 2 * b.precision * b.recall / (b.precision + b.recall)
             : 0;
  return b;
}

double AdjustedRandIndex(absl::Span<const int64_t> gold,
                         absl::Span<const int64_t> predicted) {
  const Contingency c = Count(gold, predicted);
  double index = 0, sum_gold = 0, sum_pred = 0;
  for (const auto& [cell, v] : c.pairs) index += Choose2(v);
  for (const auto& [label, v] : c.gold) sum_gold += Choose2(v);
  for (const auto& [label, v] : c.predicted) sum_pred += Choose2(v);
  const double total = Choose2(static_cast<double>(gold.size()));
  if (total == 0) return 1.0;
  const double expected = sum_gold * sum_pred / total;
  const double max_index = (sum_gold + sum_pred) / 2;
  if (max_index == expected) return 1.0;  // both trivial clusterings
  return (index - expected) / (max_index - expected);
}

double PearsonCorrelation(absl::Span<const double> x,
                          absl::Span<const double> y) {
  const size_t n = std::min(x.size(), y.size());
  if (n == 0) return 0;
  const double mx = std::accumulate(x.begin(), x.begin() + n, 0.0) / n;
  const double my = std::accumulate(y.begin(), y.begin() + n, 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return 0;
  return sxy / std::sqrt(sxx * syy);
}

double Percentile(std::vector<double>* values, double p) {
  if (values->empty()) return 0;
  const size_t k =
      std::min(values->size() - 1, static_cast<size_t>(p * values->size()));
  std::nth_element(values->begin(), values->begin() + k, values->end());
  return (*values)[k];
}

double RocAuc(absl::Span<const double> scores,
              const std::vector<bool>& positive) {
  // Mann-Whitney U from average ranks.
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;
  int64_t num_pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double rank = (i + 1 + j) / 2.0;  // average of ranks i+1..j
    for (size_t k = i; k < j; ++k) {
      if (positive[order[k]]) {
        rank_sum += rank;
        ++num_pos;
      }
    }
    i = j;
  }
  const int64_t num_neg = static_cast<int64_t>(scores.size()) - num_pos;
  if (num_pos == 0 || num_neg == 0) return 0.5;
  return (rank_sum - num_pos * (num_pos + 1) / 2.0) /
         (static_cast<double>(num_pos) * num_neg);
}

void NeighborRecall::Add(absl::Span<const int64_t> exact_ids,
                         float kth_exact_score,
                         absl::Span<const int64_t> returned_ids,
                         absl::Span<const float> returned_exact_scores) {
  if (exact_ids.empty()) return;
  for (size_t i = 0; i < returned_ids.size(); ++i) {
    right_ += returned_exact_scores[i] >= kth_exact_score - tolerance_;
    same_ids_ += std::find(exact_ids.begin(), exact_ids.end(),
                           returned_ids[i]) != exact_ids.end();
  }
  exact_ += static_cast<int64_t>(exact_ids.size());
}

double NeighborRecall::recall() const {
  return exact_ == 0 ? 0.0 : static_cast<double>(right_) / exact_;
}

double NeighborRecall::same_ids() const {
  return exact_ == 0 ? 0.0 : static_cast<double>(same_ids_) / exact_;
}

float DotProduct(absl::Span<const float> a, absl::Span<const float> b) {
  float sum = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace newsdedup
