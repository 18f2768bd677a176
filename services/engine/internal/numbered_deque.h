#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_NUMBERED_DEQUE_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_NUMBERED_DEQUE_H_

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

// Records numbered 0, 1, 2, ... in the order they were appended, where
// the oldest can be let go. The engine names articles and stories by
// number everywhere (answers, merges, the index's labels); a number is
// never reused, and letting a record go must not renumber the rest.

namespace newsdedup {
namespace internal {

// Dense: every number from begin() to end() holds a record; only a prefix
// can be dropped. A deque frees its blocks as the front moves on, so the
// memory follows the records held, not the numbers handed out.
template <typename T>
class NumberedDeque {
 public:
  // The lowest number still held, and one past the highest.
  int64_t begin() const { return dropped_; }
  int64_t end() const {
    return dropped_ + static_cast<int64_t>(records_.size());
  }
  bool contains(int64_t n) const { return n >= begin() && n < end(); }

  T& operator[](int64_t n) {
    assert(contains(n));
    return records_[static_cast<size_t>(n - dropped_)];
  }
  const T& operator[](int64_t n) const {
    assert(contains(n));
    return records_[static_cast<size_t>(n - dropped_)];
  }
  T& front() { return records_.front(); }
  T& back() { return records_.back(); }

  // Appends the record numbered end().
  void push_back(T record) { records_.push_back(std::move(record)); }
  // Numbers the next record appended `n`: for an empty deque read back
  // from a store whose records start at `n`.
  void StartAt(int64_t n) {
    assert(records_.empty() && n >= dropped_);
    dropped_ = n;
  }
  // Lets the record numbered begin() go.
  void pop_front() {
    records_.pop_front();
    ++dropped_;
  }

 private:
  std::deque<T> records_;
  int64_t dropped_ = 0;
};

// Sparse: any record can be erased; a number erased stays empty for good.
// Costs a pointer per number between the oldest record held and the
// newest, so a long-lived old record keeps the numbers after it at 8 bytes
// each, not at a record's size.
template <typename T>
class NumberedTable {
 public:
  int64_t begin() const { return slots_.begin(); }
  int64_t end() const { return slots_.end(); }
  bool contains(int64_t n) const {
    return slots_.contains(n) && slots_[n] != nullptr;
  }

  T& operator[](int64_t n) {
    assert(contains(n));
    return *slots_[n];
  }
  const T& operator[](int64_t n) const {
    assert(contains(n));
    return *slots_[n];
  }

  // Appends a default record, numbered end(); returns it.
  T& emplace_back() {
    slots_.push_back(std::make_unique<T>());
    return *slots_.back();
  }
  // Makes room up to number `n` (empty numbers stay empty) and puts a
  // default record there if it has none: for reading a store back, whose
  // numbers may have gaps.
  T& EmplaceAt(int64_t n) {
    assert(n >= begin());
    if (begin() == end()) slots_.StartAt(n);
    while (end() <= n) slots_.push_back(nullptr);
    if (slots_[n] == nullptr) slots_[n] = std::make_unique<T>();
    return *slots_[n];
  }
  // Leaves the numbers up to `n` empty: the next one appended gets `n`
  // (or a higher number, if one is held already).
  void SkipTo(int64_t n) {
    if (begin() == end()) {
      slots_.StartAt(std::max(n, begin()));
      return;
    }
    while (end() < n) slots_.push_back(nullptr);
  }
  void erase(int64_t n) {
    assert(contains(n));
    slots_[n].reset();
    while (slots_.begin() < slots_.end() && slots_.front() == nullptr) {
      slots_.pop_front();
    }
  }

 private:
  NumberedDeque<std::unique_ptr<T>> slots_;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_NUMBERED_DEQUE_H_
