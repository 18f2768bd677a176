#include "services/server/reflection_v1.h"

#include <set>
#include <utility>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace newsdedup {
namespace {

namespace v1 = grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

void NotFound(const std::string& what, v1::ServerReflectionResponse* out) {
  v1::ErrorResponse* error = out->mutable_error_response();
  error->set_error_code(static_cast<int>(grpc::StatusCode::NOT_FOUND));
  error->set_error_message(what);
}

// `file` and, first, every file it depends on that the stream has not
// sent yet (`sent`), as gRPC's own reflection does.
void AddFile(const FileDescriptor* file, std::set<std::string>* sent,
             v1::FileDescriptorResponse* out) {
  if (!sent->insert(file->name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  out->add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFile(file->dependency(i), sent, out);
  }
}

}  // namespace

ReflectionV1Service::ReflectionV1Service(std::vector<std::string> services)
    : services_(std::move(services)) {}

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext* /*context*/,
    grpc::ServerReaderWriter<v1::ServerReflectionResponse,
                             v1::ServerReflectionRequest>* stream) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  std::set<std::string> sent;  // files this stream has sent
  v1::ServerReflectionRequest request;
  while (stream->Read(&request)) {
    v1::ServerReflectionResponse response;
    response.set_valid_host(request.host());
    *response.mutable_original_request() = request;
    switch (request.message_request_case()) {
      case v1::ServerReflectionRequest::kListServices:
        for (const std::string& name : services_) {
          response.mutable_list_services_response()->add_service()->set_name(
              name);
        }
        break;
      case v1::ServerReflectionRequest::kFileByFilename: {
        const FileDescriptor* file =
            pool->FindFileByName(request.file_by_filename());
        if (file == nullptr) {
          NotFound("file not found: " + request.file_by_filename(), &response);
        } else {
          AddFile(file, &sent, response.mutable_file_descriptor_response());
        }
        break;
      }
      case v1::ServerReflectionRequest::kFileContainingSymbol: {
        const FileDescriptor* file =
            pool->FindFileContainingSymbol(request.file_containing_symbol());
        if (file == nullptr) {
          NotFound("symbol not found: " + request.file_containing_symbol(),
                   &response);
        } else {
          AddFile(file, &sent, response.mutable_file_descriptor_response());
        }
        break;
      }
      case v1::ServerReflectionRequest::kFileContainingExtension: {
        const v1::ExtensionRequest& ext = request.file_containing_extension();
        const auto* type = pool->FindMessageTypeByName(ext.containing_type());
        const auto* field = type == nullptr ? nullptr
                                            : pool->FindExtensionByNumber(
                                                  type, ext.extension_number());
        if (field == nullptr) {
          NotFound("extension not found", &response);
        } else {
          AddFile(field->file(), &sent,
                  response.mutable_file_descriptor_response());
        }
        break;
      }
      case v1::ServerReflectionRequest::kAllExtensionNumbersOfType: {
        const auto* type = pool->FindMessageTypeByName(
            request.all_extension_numbers_of_type());
        if (type == nullptr) {
          NotFound("type not found: " + request.all_extension_numbers_of_type(),
                   &response);
          break;
        }
        std::vector<const google::protobuf::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        v1::ExtensionNumberResponse* numbers =
            response.mutable_all_extension_numbers_response();
        numbers->set_base_type_name(type->full_name());
        for (const auto* field : extensions) {
          numbers->add_extension_number(field->number());
        }
        break;
      }
      default: {
        v1::ErrorResponse* error = response.mutable_error_response();
        error->set_error_code(
            static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
        error->set_error_message("request type not supported");
      }
    }
    if (!stream->Write(response)) break;
  }
  return grpc::Status::OK;
}

}  // namespace newsdedup
