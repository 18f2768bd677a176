// Server reflection on grpc.reflection.v1 (what grpcurl, Postman and
// current grpc_cli ask first). gRPC 1.51's plugin answers only v1alpha, so
// this service answers v1 from the same source: the descriptors compiled
// into this binary (protobuf's generated pool). Both stay registered.
#ifndef NEWSDEDUP_SERVICES_SERVER_REFLECTION_V1_H_
#define NEWSDEDUP_SERVICES_SERVER_REFLECTION_V1_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace newsdedup {

class ReflectionV1Service final
    : public grpc::reflection::v1::ServerReflection::Service {
 public:
  // `services`: full names of the services the server offers.
  explicit ReflectionV1Service(std::vector<std::string> services);

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>*
          stream) override;

 private:
  const std::vector<std::string> services_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_REFLECTION_V1_H_
