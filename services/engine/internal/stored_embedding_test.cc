#include "services/engine/internal/stored_embedding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "services/engine/internal/centroid.h"

namespace newsdedup {
namespace internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Embedding SparseEmbedding() {
  Embedding e;
  e.sparse.ids = {3, 7, 40};
  e.sparse.weights = {0.6f, 0.0f, 0.8f};
  e.dense.assign(8, 0.25f);  // the index's copy; not kept
  e.num_words = 5;
  e.statistics = 2;
  e.passages = std::make_shared<const std::vector<uint32_t>>(
      std::vector<uint32_t>{11, 12});
  e.names_view =
      std::make_shared<const SparseVector>(SparseVector{{40}, {1.0f}});
  e.document_frequencies = std::make_shared<const std::vector<uint32_t>>(
      std::vector<uint32_t>{1, 2, 3});
  return e;
}

TEST(StoredEmbeddingTest, KeepsTheSparseVectorAndWhatForgetReads) {
  const Embedding fresh = SparseEmbedding();
  const StoredEmbedding stored(fresh);
  const VectorView vector = stored.vector();
  ASSERT_TRUE(vector.sparse());
  EXPECT_THAT(vector.ids, ElementsAre(3, 7, 40));
  EXPECT_THAT(vector.weights, ElementsAre(0.6f, 0.0f, 0.8f));
  EXPECT_THAT(vector.dense, IsEmpty());
  EXPECT_EQ(stored.num_words(), 5);
  EXPECT_THAT(stored.names().ids, ElementsAre(40));

  const Embedding forget = stored.ForForget();
  EXPECT_EQ(forget.sparse.ids, fresh.sparse.ids);
  EXPECT_EQ(forget.statistics, 2);
  EXPECT_EQ(forget.passages, fresh.passages);
  EXPECT_TRUE(forget.dense.empty());

  // Similarities and centroids read it as they read the embedding.
  EXPECT_FLOAT_EQ(Dot(fresh, vector), Similarity(fresh, fresh));
  Centroid from_fresh, from_stored;
  from_fresh.Add(fresh);
  from_stored.Add(vector);
  EXPECT_FLOAT_EQ(from_fresh.Cosine(fresh), from_stored.Cosine(fresh));
}

TEST(StoredEmbeddingTest, ADenseOnlyEmbeddingKeepsItsDenseVector) {
  Embedding e;
  e.dense = {0.6f, 0.8f, 0.0f};
  const StoredEmbedding stored(e);
  EXPECT_FALSE(stored.vector().sparse());
  EXPECT_THAT(stored.vector().dense, ElementsAre(0.6f, 0.8f, 0.0f));
  EXPECT_FLOAT_EQ(Dot(e, stored.vector()), 1.0f);
  EXPECT_THAT(stored.names().ids, IsEmpty());
  EXPECT_THAT(stored.ForForget().sparse.ids, IsEmpty());
}

TEST(StoredEmbeddingTest, MovesAndEmptiesLikeAValue) {
  StoredEmbedding a(SparseEmbedding());
  StoredEmbedding b = std::move(a);
  EXPECT_THAT(b.vector().ids, ElementsAre(3, 7, 40));
  b = StoredEmbedding();
  EXPECT_FALSE(b.vector().sparse());
  EXPECT_THAT(b.vector().dense, IsEmpty());
  EXPECT_EQ(b.num_words(), 0);
}

}  // namespace
}  // namespace internal
}  // namespace newsdedup
