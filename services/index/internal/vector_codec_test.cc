#include "services/index/internal/vector_codec.h"

#include <faiss/impl/FaissException.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace newsdedup {
namespace internal {
namespace {

std::vector<int8_t> RandomCodes(size_t n, std::mt19937* rng) {
  std::uniform_int_distribution<int> value(-127, 127);
  std::vector<int8_t> out(n);
  for (int8_t& v : out) v = static_cast<int8_t>(value(*rng));
  return out;
}

using Kernel = int32_t (*)(const int8_t*, const int8_t*, size_t);

void ExpectSameSumsAsThePortableKernel(Kernel kernel) {
  std::mt19937 rng(7);
  for (size_t n : {0, 1, 31, 32, 33, 64, 100, 256, 1000}) {
    const std::vector<int8_t> a = RandomCodes(n, &rng);
    const std::vector<int8_t> b = RandomCodes(n, &rng);
    EXPECT_EQ(kernel(a.data(), b.data(), n),
              InnerProductQuantizedPortable(a.data(), b.data(), n))
        << "n=" << n;
  }
  // The extremes: every pair at +-127 (the sums must not saturate).
  std::vector<int8_t> high(64, 127), low(64, -127);
  EXPECT_EQ(kernel(high.data(), high.data(), 64), 64 * 127 * 127);
  EXPECT_EQ(kernel(high.data(), low.data(), 64), -64 * 127 * 127);
}

TEST(VectorCodecTest, Avx2KernelEqualsThePortableOneAtEveryLength) {
  if (!CpuHasAvx2()) GTEST_SKIP() << "this CPU has no AVX2";
  ExpectSameSumsAsThePortableKernel(InnerProductQuantizedAvx2);
}

TEST(VectorCodecTest, VnniKernelEqualsThePortableOneAtEveryLength) {
  if (!CpuHasAvxVnni()) GTEST_SKIP() << "this CPU has no AVX-VNNI";
  ExpectSameSumsAsThePortableKernel(InnerProductQuantizedVnni);
}

TEST(VectorCodecTest, EncodingKeepsEveryComponentWithinHalfAStep) {
  constexpr int kDimension = 50;
  QuantizedIndexIP codec(kDimension);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> x(kDimension);
  for (float& v : x) v = normal(rng);
  std::vector<uint8_t> code(codec.code_size);
  codec.sa_encode(1, x.data(), code.data());
  std::vector<float> back(kDimension);
  codec.sa_decode(1, code.data(), back.data());
  const float scale = QuantizedIndexIP::ScaleOf(code.data());
  float largest = 0.0f;
  for (float v : x) largest = std::max(largest, std::abs(v));
  EXPECT_FLOAT_EQ(scale, largest / 127.0f);
  for (int i = 0; i < kDimension; ++i) {
    EXPECT_LE(std::abs(back[i] - x[i]), scale / 2 + 1e-6f) << i;
  }
  // The zero vector encodes to zeros (scale 1, no division by zero).
  std::vector<float> zero(kDimension, 0.0f);
  codec.sa_encode(1, zero.data(), code.data());
  codec.sa_decode(1, code.data(), back.data());
  for (float v : back) EXPECT_EQ(v, 0.0f);
}

// Codes as a shard lays them out: a 4-byte scale, then the values.
void ExpectSameSumsForEveryCodeOfARun(void (*kernel)(
    const int8_t*, const int8_t*, size_t, size_t, size_t, int32_t*)) {
  std::mt19937 rng(13);
  for (size_t n : {0, 1, 31, 32, 33, 100, 256, 300}) {
    // Runs of every length up to 9 leave every remainder of four.
    for (size_t count = 0; count <= 9; ++count) {
      const size_t code_size = sizeof(float) + n;
      const std::vector<int8_t> query = RandomCodes(n, &rng);
      // At least one code, so that `values` points into the vector.
      const std::vector<int8_t> codes =
          RandomCodes(code_size * std::max<size_t>(count, 1), &rng);
      const int8_t* values = codes.data() + sizeof(float);
      std::vector<int32_t> sums(count, -1);
      kernel(query.data(), values, code_size, count, n, sums.data());
      for (size_t j = 0; j < count; ++j) {
        EXPECT_EQ(sums[j], InnerProductQuantizedPortable(
                               query.data(), values + j * code_size, n))
            << "n=" << n << " count=" << count << " code " << j;
      }
    }
  }
}

TEST(VectorCodecTest, RunKernelsGiveEachCodesSum) {
  ExpectSameSumsForEveryCodeOfARun(InnerProductsQuantizedOneByOne);
  ExpectSameSumsForEveryCodeOfARun(InnerProductsQuantized);
}

TEST(VectorCodecTest, VnniRunKernelGivesEachCodesSum) {
  if (!CpuHasAvxVnni()) GTEST_SKIP() << "this CPU has no AVX-VNNI";
  ExpectSameSumsForEveryCodeOfARun(InnerProductsQuantizedVnni);
}

TEST(VectorCodecTest, QuantizedScoresStayWithinAFewThousandthsOfFloatOnes) {
  constexpr int kDimension = 128;
  constexpr int kVectors = 200;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> vectors(kDimension * kVectors);
  for (int i = 0; i < kVectors; ++i) {
    float norm = 0.0f;
    for (int j = 0; j < kDimension; ++j) {
      vectors[i * kDimension + j] = normal(rng);
      norm += vectors[i * kDimension + j] * vectors[i * kDimension + j];
    }
    for (int j = 0; j < kDimension; ++j) {
      vectors[i * kDimension + j] /= std::sqrt(norm);
    }
  }
  QuantizedIndexIP quantized(kDimension);
  faiss::IndexFlatIP exact(kDimension);
  quantized.add(kVectors, vectors.data());
  exact.add(kVectors, vectors.data());
  const QuantizedScorer q(quantized, vectors.data());
  const FloatScorer f(exact, vectors.data());
  for (FaissId v = 0; v < kVectors; ++v) {
    EXPECT_NEAR(q.Score(v), f.Score(v), 5e-3) << v;
    EXPECT_NEAR(q.Between(v, 0), f.Between(v, 0), 5e-3) << v;
  }
  // An exact scan's runs give the scores one by one, to the last bit (a
  // run longer than the scorer's block, starting past the first vector).
  std::vector<float> run(kVectors - 3), float_run(kVectors - 3);
  q.ScoreRun(3, run.size(), run.data());
  f.ScoreRun(3, float_run.size(), float_run.data());
  for (size_t j = 0; j < run.size(); ++j) {
    EXPECT_EQ(run[j], q.Score(3 + j)) << j;
    EXPECT_EQ(float_run[j], f.Score(3 + j)) << j;
  }
  EXPECT_NEAR(f.Score(0), 1.0f, 1e-5);
  EXPECT_THROW(
      quantized.search(1, vectors.data(), 1, nullptr, nullptr, nullptr),
      faiss::FaissException);
}

}  // namespace
}  // namespace internal
}  // namespace newsdedup
