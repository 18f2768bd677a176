// Names that millions of records repeat (outlets, collections), each kept
// once: a record holds a number instead of a copy of the string.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_INTERNED_NAMES_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_INTERNED_NAMES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace newsdedup {
namespace internal {

class InternedNames {
 public:
  // The number of `name`, new ones numbered in order of arrival; -1 for
  // the empty name (none).
  int32_t Number(const std::string& name) {
    if (name.empty()) return -1;
    auto [it, added] =
        numbers_.try_emplace(name, static_cast<int32_t>(names_.size()));
    if (added) names_.push_back(name);
    return it->second;
  }

  // The name numbered `number` by Number(); empty for -1.
  const std::string& Name(int32_t number) const {
    static const std::string kNone;
    return number < 0 ? kNone : names_[number];
  }

 private:
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, int32_t> numbers_;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_INTERNED_NAMES_H_
