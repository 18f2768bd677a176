#include "services/api/wire_messages.h"

#include <functional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/slice.h"

namespace newsdedup {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

// The bytes of a ByteBuffer, in one string.
std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// Called for every string field, with its path; returns false to stop.
using StringVisitor =
    std::function<bool(const std::string& path, absl::string_view value)>;

// Walks the wire format of a `type` message and hands every string field,
// in nested messages too, to `visit`, without checking UTF-8. Returns false
// if the bytes are not well-formed wire format (or `visit` stopped).
bool VisitStrings(absl::string_view bytes, const Descriptor& type,
                  const std::string& prefix, const StringVisitor& visit) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  absl::flat_hash_map<int, int> occurrences;  // of repeated fields
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return true;  // the end (or bytes that cannot be a tag)
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const FieldDescriptor* field = type.FindFieldByNumber(number);
    const bool delimited = WireFormatLite::GetTagWireType(tag) ==
                           WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    const bool is_string =
        field != nullptr && field->type() == FieldDescriptor::TYPE_STRING;
    const bool is_message =
        field != nullptr && field->type() == FieldDescriptor::TYPE_MESSAGE;
    if (!delimited || (!is_string && !is_message)) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    std::string value;
    uint32_t length = 0;
    if (!in.ReadVarint32(&length) ||
        !in.ReadString(&value, static_cast<int>(length))) {
      return false;
    }
    std::string path = absl::StrCat(prefix, field->name());
    if (field->is_repeated()) {
      absl::StrAppend(&path, "[", occurrences[number]++, "]");
    }
    if (is_string) {
      if (!visit(path, value)) return false;
    } else if (!VisitStrings(value, *field->message_type(), path + ".",
                             visit)) {
      return false;
    }
  }
}

}  // namespace

absl::Status ParseRequest(const grpc::ByteBuffer& buffer,
                          google::protobuf::Message* message) {
  {
    // Straight from gRPC's slices, as its generated handlers parse (a copy
    // of the buffer shares them).
    grpc::ByteBuffer slices(buffer);
    grpc::ProtoBufferReader reader(&slices);
    if (message->ParseFromZeroCopyStream(&reader)) return absl::OkStatus();
  }
  // Only a request that does not parse is read again, to say why.
  const std::string bytes = Flatten(buffer);
  std::string bad_field;
  VisitStrings(bytes, *message->GetDescriptor(), "",
               [&](const std::string& path, absl::string_view value) {
                 if (google::protobuf::internal::IsStructurallyValidUTF8(
                         value.data(), static_cast<int>(value.size()))) {
                   return true;
                 }
                 bad_field = path;
                 return false;
               });
  if (!bad_field.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(bad_field, ": not valid UTF-8"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("request: not a valid ", message->GetTypeName(),
                   " message (", bytes.size(), " bytes)"));
}

std::string FindStringField(const grpc::ByteBuffer& buffer,
                            const Descriptor& type, const std::string& path) {
  std::string found;
  VisitStrings(Flatten(buffer), type, "",
               [&](const std::string& at, absl::string_view value) {
                 if (at == path) found = std::string(value);
                 return true;
               });
  return found;
}

absl::Status SerializeResponse(const google::protobuf::Message& message,
                               grpc::ByteBuffer* buffer) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat("cannot serialise a ", message.GetTypeName()));
  }
  grpc::Slice slice(std::move(bytes));
  *buffer = grpc::ByteBuffer(&slice, 1);
  return absl::OkStatus();
}

}  // namespace newsdedup
