// Plain values and arrays of them written to and read from byte streams,
// in this machine's byte order: for files that the build that wrote them
// reads back (the index snapshot), never for data that travels.
//
//   WritePod(out, int64_t{42});
//   int64_t value;
//   if (!ReadPod(in, &value)) ...  // a short stream
#ifndef NEWSDEDUP_COMMON_POD_IO_H_
#define NEWSDEDUP_COMMON_POD_IO_H_

#include <cstdint>
#include <istream>
#include <ostream>
#include <type_traits>
#include <vector>

namespace newsdedup {

template <typename T>
void WritePod(std::ostream& out, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

// False when the stream ends first.
template <typename T>
bool ReadPod(std::istream& in, T* value) {
  static_assert(std::is_trivially_copyable_v<T>);
  return static_cast<bool>(in.read(reinterpret_cast<char*>(value), sizeof(T)));
}

// The array's size, then its values.
template <typename T>
void WriteArray(std::ostream& out, const std::vector<T>& values) {
  static_assert(std::is_trivially_copyable_v<T>);
  WritePod<uint64_t>(out, values.size());
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(T)));
}

// An array WriteArray wrote, of at most `most` values: a damaged size must
// not allocate without bound. False when it is longer or the stream ends.
template <typename T>
bool ReadArray(std::istream& in, uint64_t most, std::vector<T>* values) {
  static_assert(std::is_trivially_copyable_v<T>);
  uint64_t size = 0;
  if (!ReadPod(in, &size) || size > most) return false;
  values->resize(size);
  return static_cast<bool>(
      in.read(reinterpret_cast<char*>(values->data()),
              static_cast<std::streamsize>(size * sizeof(T))));
}

}  // namespace newsdedup

#endif  // NEWSDEDUP_COMMON_POD_IO_H_
