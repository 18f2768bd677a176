// How the vector index stores and compares vectors: the inner-product
// kernels (AVX2 where the CPU has it), the 8-bit scalar codec, and the
// scorers that the graph search is templated on. Internal to services/.
#ifndef NEWSDEDUP_SERVICES_INDEX_INTERNAL_VECTOR_CODEC_H_
#define NEWSDEDUP_SERVICES_INDEX_INTERNAL_VECTOR_CODEC_H_

#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace newsdedup {
namespace internal {

// FAISS 1.7.3 spells its id type faiss::Index::idx_t (DESIGN trap 2).
using FaissId = faiss::Index::idx_t;

// Inner product of two n-float vectors. The packaged FAISS is a generic
// x86-64 build whose own inner product is scalar; this one is cloned for
// Haswell-class CPUs (AVX2, FMA), the clone picked at load time.
float InnerProduct(const float* a, const float* b, size_t n);

// Inner product of two vectors of n signed bytes in [-127, 127], exact in
// 32 bits: the VNNI kernel where the CPU has it, else the AVX2 one, else
// the portable loop (all give the same sums).
int32_t InnerProductQuantized(const int8_t* a, const int8_t* b, size_t n);
// The kernels by name (tests compare them).
int32_t InnerProductQuantizedPortable(const int8_t* a, const int8_t* b,
                                      size_t n);
int32_t InnerProductQuantizedAvx2(const int8_t* a, const int8_t* b, size_t n);
int32_t InnerProductQuantizedVnni(const int8_t* a, const int8_t* b, size_t n);
bool CpuHasAvx2();
bool CpuHasAvxVnni();  // AVX-VNNI (and AVX2)

// out[j] = InnerProductQuantized(query, values + j * stride, n) for
// j < count: the n values of `count` stored codes `stride` bytes apart,
// what an exact scan computes. The VNNI kernel reads each step of the
// query once for four codes and sums their lanes together, where one call
// per code pays a call, a reload of the query and a horizontal sum each
// (the same sums either way).
void InnerProductsQuantized(const int8_t* query, const int8_t* values,
                            size_t stride, size_t count, size_t n,
                            int32_t* out);
// The kernels by name (tests compare them).
void InnerProductsQuantizedOneByOne(const int8_t* query, const int8_t* values,
                                    size_t stride, size_t count, size_t n,
                                    int32_t* out);
void InnerProductsQuantizedVnni(const int8_t* query, const int8_t* values,
                                size_t stride, size_t count, size_t n,
                                int32_t* out);

// Storage with 8-bit scalar quantisation: each vector is one float scale
// followed by `d` signed bytes, value = scale * byte, the scale chosen per
// vector so that its largest component maps to 127. A quarter of the
// memory of floats, and a quarter of the memory traffic per comparison,
// which is what graph search and exact scans wait on once the shards
// outgrow the CPU caches. For unit vectors the error of a cosine is at
// most a few thousandths; the engine re-scores its candidates exactly.
class QuantizedIndexIP final : public faiss::IndexFlatCodes {
 public:
  explicit QuantizedIndexIP(int dimension);

  void sa_encode(FaissId n, const float* x, uint8_t* bytes) const override;
  void sa_decode(FaissId n, const uint8_t* bytes, float* x) const override;

  // Shards compare through the scorers below; FAISS's batch search entry
  // point is not used (it throws).
  void search(FaissId n, const float* x, FaissId k, float* distances,
              FaissId* labels,
              const faiss::SearchParameters* params) const override;

  static float ScaleOf(const uint8_t* code) {
    float scale;
    std::memcpy(&scale, code, sizeof(scale));
    return scale;
  }
  static const int8_t* ValuesOf(const uint8_t* code) {
    return reinterpret_cast<const int8_t*>(code + sizeof(float));
  }
};

// Scores a query against a shard's stored vectors without a virtual call
// per comparison; what the graph search is templated on.
class QuantizedScorer {
 public:
  QuantizedScorer(const QuantizedIndexIP& storage, const float* query)
      : codes_(storage.codes.data()),
        code_size_(storage.code_size),
        dimension_(static_cast<size_t>(storage.d)),
        query_code_(storage.code_size) {
    storage.sa_encode(1, query, query_code_.data());
  }

  const uint8_t* CodeOf(FaissId v) const { return codes_ + v * code_size_; }
  size_t code_size() const { return code_size_; }

  float Score(FaissId v) const {
    return Similarity(query_code_.data(), CodeOf(v));
  }

  // out[j] = Score(first + j) for j < count (exact scans); the same
  // floats, computed for several vectors at a time.
  void ScoreRun(FaissId first, size_t count, float* out) const {
    int32_t sums[kMaxRun];
    const float query_scale = QuantizedIndexIP::ScaleOf(query_code_.data());
    for (size_t done = 0; done < count; done += kMaxRun) {
      const size_t run = std::min(kMaxRun, count - done);
      const uint8_t* codes = CodeOf(first + static_cast<FaissId>(done));
      InnerProductsQuantized(QuantizedIndexIP::ValuesOf(query_code_.data()),
                             QuantizedIndexIP::ValuesOf(codes), code_size_, run,
                             dimension_, sums);
      for (size_t j = 0; j < run; ++j) {
        // As Similarity: (query scale x code scale) x sum.
        out[done + j] = query_scale *
                        QuantizedIndexIP::ScaleOf(codes + j * code_size_) *
                        static_cast<float>(sums[j]);
      }
    }
  }

  // Similarity of two stored vectors.
  float Between(FaissId a, FaissId b) const {
    return Similarity(CodeOf(a), CodeOf(b));
  }

 private:
  float Similarity(const uint8_t* a, const uint8_t* b) const {
    return QuantizedIndexIP::ScaleOf(a) * QuantizedIndexIP::ScaleOf(b) *
           static_cast<float>(InnerProductQuantized(
               QuantizedIndexIP::ValuesOf(a), QuantizedIndexIP::ValuesOf(b),
               dimension_));
  }

  static constexpr size_t kMaxRun = 64;

  const uint8_t* const codes_;
  const size_t code_size_;
  const size_t dimension_;
  std::vector<uint8_t> query_code_;
};

// The same over float storage (faiss::IndexFlatIP).
class FloatScorer {
 public:
  FloatScorer(const faiss::IndexFlatCodes& storage, const float* query)
      : codes_(storage.codes.data()),
        code_size_(storage.code_size),
        dimension_(static_cast<size_t>(storage.d)),
        query_(query) {}

  const uint8_t* CodeOf(FaissId v) const { return codes_ + v * code_size_; }
  size_t code_size() const { return code_size_; }

  float Score(FaissId v) const {
    return InnerProduct(query_, reinterpret_cast<const float*>(CodeOf(v)),
                        dimension_);
  }

  void ScoreRun(FaissId first, size_t count, float* out) const {
    for (size_t j = 0; j < count; ++j) {
      out[j] = Score(first + static_cast<FaissId>(j));
    }
  }

  float Between(FaissId a, FaissId b) const {
    return InnerProduct(reinterpret_cast<const float*>(CodeOf(a)),
                        reinterpret_cast<const float*>(CodeOf(b)), dimension_);
  }

 private:
  const uint8_t* const codes_;
  const size_t code_size_;
  const size_t dimension_;
  const float* const query_;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_INDEX_INTERNAL_VECTOR_CODEC_H_
