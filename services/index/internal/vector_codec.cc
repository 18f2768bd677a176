#include "services/index/internal/vector_codec.h"

#include <faiss/impl/FaissAssert.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace newsdedup {
namespace internal {

__attribute__((target_clones("arch=haswell", "default"))) float InnerProduct(
    const float* a, const float* b, size_t n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// GCC vectorises this loop poorly (16 bytes a step, widened twice).
int32_t InnerProductQuantizedPortable(const int8_t* a, const int8_t* b,
                                      size_t n) {
  int32_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  }
  return sum;
}

namespace {

// The sum of the eight 32-bit lanes of `sum`.
__attribute__((target("avx2"))) inline int32_t SumOfLanes(__m256i sum) {
  const __m128i half = _mm_add_epi32(_mm256_castsi256_si128(sum),
                                     _mm256_extracti128_si256(sum, 1));
  const __m128i quarter = _mm_add_epi32(half, _mm_unpackhi_epi64(half, half));
  const __m128i total = _mm_add_epi32(
      quarter, _mm_shuffle_epi32(quarter, _MM_SHUFFLE(1, 1, 1, 1)));
  return _mm_cvtsi128_si32(total);
}

}  // namespace

// 32 bytes a step: vpmaddubsw multiplies unsigned by signed bytes, so |a|
// is paired with b carrying a's sign. Exact for codes in [-127, 127] (what
// QuantizedIndexIP writes): the pairwise sums reach at most 2 x 127 x 127
// = 32,258 and do not saturate 16 bits.
__attribute__((target("avx2"))) int32_t InnerProductQuantizedAvx2(
    const int8_t* a, const int8_t* b, size_t n) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i sum = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va),
                                               _mm256_sign_epi8(vb, va));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, ones));
  }
  return SumOfLanes(sum) + InnerProductQuantizedPortable(a + i, b + i, n - i);
}

// The same with AVX-VNNI: vpdpbusd multiplies and adds the byte pairs into
// 32-bit sums in one instruction, where AVX2 needs three.
__attribute__((target("avx2,avxvnni"))) int32_t InnerProductQuantizedVnni(
    const int8_t* a, const int8_t* b, size_t n) {
  __m256i sum = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    sum = _mm256_dpbusd_avx_epi32(sum, _mm256_sign_epi8(va, va),
                                  _mm256_sign_epi8(vb, va));
  }
  return SumOfLanes(sum) + InnerProductQuantizedPortable(a + i, b + i, n - i);
}

void InnerProductsQuantizedOneByOne(const int8_t* query, const int8_t* values,
                                    size_t stride, size_t count, size_t n,
                                    int32_t* out) {
  for (size_t j = 0; j < count; ++j) {
    out[j] = InnerProductQuantized(query, values + j * stride, n);
  }
}

// Four codes a step. vpdpbusd adds each lane's four byte products into
// that lane, so every code's lanes hold the same partial sums as in
// InnerProductQuantizedVnni, and integer sums do not depend on the order
// in which the lanes are then added.
__attribute__((target("avx2,avxvnni"))) void InnerProductsQuantizedVnni(
    const int8_t* query, const int8_t* values, size_t stride, size_t count,
    size_t n, int32_t* out) {
  const size_t tail = n / 32 * 32;  // bytes the vector steps cover
  size_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const int8_t* b0 = values + j * stride;
    const int8_t* b1 = b0 + stride;
    const int8_t* b2 = b1 + stride;
    const int8_t* b3 = b2 + stride;
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    __m256i s2 = _mm256_setzero_si256(), s3 = _mm256_setzero_si256();
    for (size_t i = 0; i < tail; i += 32) {
      const __m256i va =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(query + i));
      const __m256i magnitude = _mm256_sign_epi8(va, va);
      const __m256i v0 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + i));
      const __m256i v1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + i));
      const __m256i v2 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b2 + i));
      const __m256i v3 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b3 + i));
      s0 = _mm256_dpbusd_avx_epi32(s0, magnitude, _mm256_sign_epi8(v0, va));
      s1 = _mm256_dpbusd_avx_epi32(s1, magnitude, _mm256_sign_epi8(v1, va));
      s2 = _mm256_dpbusd_avx_epi32(s2, magnitude, _mm256_sign_epi8(v2, va));
      s3 = _mm256_dpbusd_avx_epi32(s3, magnitude, _mm256_sign_epi8(v3, va));
    }
    // Lane sums of the four at once: pairwise adds leave, in each 128-bit
    // half, one partial total per code; the halves are then added.
    const __m256i s01 = _mm256_hadd_epi32(s0, s1);
    const __m256i s23 = _mm256_hadd_epi32(s2, s3);
    const __m256i s0123 = _mm256_hadd_epi32(s01, s23);
    const __m128i totals = _mm_add_epi32(_mm256_castsi256_si128(s0123),
                                         _mm256_extracti128_si256(s0123, 1));
    alignas(16) int32_t sums[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(sums), totals);
    const int8_t* const b[4] = {b0, b1, b2, b3};
    for (int c = 0; c < 4; ++c) {
      out[j + c] = sums[c] + InnerProductQuantizedPortable(
                                 query + tail, b[c] + tail, n - tail);
    }
  }
  for (; j < count; ++j) {
    out[j] = InnerProductQuantizedVnni(query, values + j * stride, n);
  }
}

bool CpuHasAvxVnni() {
  static const bool has_vnni = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0 &&
           __builtin_cpu_supports("avxvnni") != 0;
  }();
  return has_vnni;
}

bool CpuHasAvx2() {
  static const bool has_avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has_avx2;
}

namespace {

// The kernel for this CPU, chosen once when the program loads: asked on
// every call, the question was 0.6% of a benchmark's samples.
using InnerProductKernel = int32_t (*)(const int8_t*, const int8_t*, size_t);
const InnerProductKernel kInnerProductKernel =
    CpuHasAvxVnni() ? InnerProductQuantizedVnni
    : CpuHasAvx2()  ? InnerProductQuantizedAvx2
                    : InnerProductQuantizedPortable;

using InnerProductsKernel = void (*)(const int8_t*, const int8_t*, size_t,
                                     size_t, size_t, int32_t*);
const InnerProductsKernel kInnerProductsKernel =
    CpuHasAvxVnni() ? InnerProductsQuantizedVnni
                    : InnerProductsQuantizedOneByOne;

}  // namespace

int32_t InnerProductQuantized(const int8_t* a, const int8_t* b, size_t n) {
  return kInnerProductKernel(a, b, n);
}

void InnerProductsQuantized(const int8_t* query, const int8_t* values,
                            size_t stride, size_t count, size_t n,
                            int32_t* out) {
  kInnerProductsKernel(query, values, stride, count, n, out);
}

QuantizedIndexIP::QuantizedIndexIP(int dimension)
    : faiss::IndexFlatCodes(sizeof(float) + dimension, dimension,
                            faiss::METRIC_INNER_PRODUCT) {}

void QuantizedIndexIP::sa_encode(FaissId n, const float* x,
                                 uint8_t* bytes) const {
  for (FaissId v = 0; v < n; ++v, x += d, bytes += code_size) {
    float largest = 0.0f;
    for (int i = 0; i < d; ++i) largest = std::max(largest, std::abs(x[i]));
    const float scale = largest > 0.0f ? largest / 127.0f : 1.0f;
    std::memcpy(bytes, &scale, sizeof(scale));
    int8_t* values = reinterpret_cast<int8_t*>(bytes + sizeof(scale));
    for (int i = 0; i < d; ++i) {
      values[i] = static_cast<int8_t>(std::lround(x[i] / scale));
    }
  }
}

void QuantizedIndexIP::sa_decode(FaissId n, const uint8_t* bytes,
                                 float* x) const {
  for (FaissId v = 0; v < n; ++v, x += d, bytes += code_size) {
    const float scale = ScaleOf(bytes);
    const int8_t* values = ValuesOf(bytes);
    for (int i = 0; i < d; ++i) x[i] = scale * values[i];
  }
}

void QuantizedIndexIP::search(FaissId, const float*, FaissId, float*, FaissId*,
                              const faiss::SearchParameters*) const {
  FAISS_THROW_MSG("QuantizedIndexIP::search is not supported");
}

}  // namespace internal
}  // namespace newsdedup
