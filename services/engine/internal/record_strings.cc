#include "services/engine/internal/record_strings.h"

#include <cstring>

namespace newsdedup {
namespace internal {
namespace {

constexpr size_t kHeaderBytes = 4 * sizeof(uint32_t);

uint32_t ReadEnd(const char* block, int field) {
  uint32_t end;
  std::memcpy(&end, block + field * sizeof(uint32_t), sizeof(end));
  return end;
}

uint32_t TotalBytes(const char* block) { return ReadEnd(block, 3); }

}  // namespace

RecordStrings::RecordStrings(absl::string_view id, absl::string_view title,
                             absl::string_view url,
                             absl::string_view shared_terms) {
  const absl::string_view fields[kNumFields] = {id, title, url, shared_terms};
  static_assert(kNumFields * sizeof(uint32_t) == kHeaderBytes);
  size_t total = 0;
  for (absl::string_view field : fields) total += field.size();
  if (total == 0) return;
  block_.reset(new char[kHeaderBytes + total]);
  char* bytes = block_.get() + kHeaderBytes;
  uint32_t end = 0;
  for (int i = 0; i < kNumFields; ++i) {
    if (!fields[i].empty()) {
      std::memcpy(bytes + end, fields[i].data(), fields[i].size());
    }
    // Articles are bounded far below 4 GiB by the request size limit.
    end += static_cast<uint32_t>(fields[i].size());
    std::memcpy(block_.get() + i * sizeof(uint32_t), &end, sizeof(end));
  }
}

RecordStrings::RecordStrings(const RecordStrings& other) { *this = other; }

RecordStrings& RecordStrings::operator=(const RecordStrings& other) {
  if (this == &other) return *this;
  if (other.block_ == nullptr) {
    block_.reset();
    return *this;
  }
  const size_t size = kHeaderBytes + TotalBytes(other.block_.get());
  block_.reset(new char[size]);
  std::memcpy(block_.get(), other.block_.get(), size);
  return *this;
}

void RecordStrings::set_shared_terms(absl::string_view shared_terms) {
  if (shared_terms == this->shared_terms()) return;
  *this = RecordStrings(id(), title(), url(), shared_terms);
}

absl::string_view RecordStrings::Field(FieldNumber field) const {
  if (block_ == nullptr) return {};
  const uint32_t begin = field == 0 ? 0 : ReadEnd(block_.get(), field - 1);
  const uint32_t end = ReadEnd(block_.get(), field);
  return absl::string_view(block_.get() + kHeaderBytes + begin, end - begin);
}

}  // namespace internal
}  // namespace newsdedup
