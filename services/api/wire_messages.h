// Request parsing and response serialisation for the gRPC service, done by
// the service itself instead of by gRPC's generated handlers.
//
// Why: proto3 `string` fields must hold valid UTF-8, and a request that
// breaks this fails to parse inside gRPC, before any handler runs. The
// client then gets a status without a word about the field (unary calls),
// and a bidirectional stream sees its next read fail as if the client had
// closed: the stream ended OK having silently dropped the item and every
// item after it. Parsing here turns the same failure into INVALID_ARGUMENT
// naming the field ("article.title: not valid UTF-8"), answered per item on
// a stream.
#ifndef NEWSDEDUP_SERVICES_API_WIRE_MESSAGES_H_
#define NEWSDEDUP_SERVICES_API_WIRE_MESSAGES_H_

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace newsdedup {

// Parses `buffer` into `message`. Errors: kInvalidArgument naming the first
// string field that is not valid UTF-8 (a path such as
// "articles[2].title"), or saying that the bytes are not a `message` at all.
absl::Status ParseRequest(const grpc::ByteBuffer& buffer,
                          google::protobuf::Message* message);

// The value of the string field at `path` ("article.id") in the serialised
// message `buffer` of `message`'s type, valid UTF-8 or not; empty when
// absent. Lets an error answer carry the id of a request that did not parse.
std::string FindStringField(const grpc::ByteBuffer& buffer,
                            const google::protobuf::Descriptor& type,
                            const std::string& path);

// Serialises `message` into `buffer`. Errors: kInternal.
absl::Status SerializeResponse(const google::protobuf::Message& message,
                               grpc::ByteBuffer* buffer);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_API_WIRE_MESSAGES_H_
