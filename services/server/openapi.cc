#include "services/server/openapi.h"

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/version.h"

namespace newsdedup {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

json Ref(const Descriptor* message) {
  return {
      {"$ref", absl::StrCat("#/components/schemas/", message->full_name())}};
}

void AddSchema(const Descriptor* message, json* schemas);

// One field's schema, in protobuf's JSON mapping.
json FieldSchema(const FieldDescriptor* field, json* schemas) {
  json schema;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:
      schema = {{"type", "integer"}, {"format", "int32"}};
      break;
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT64:
      schema = {{"type", "string"}, {"format", "int64"}};
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      schema = {{"type", "number"}};
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      schema = {{"type", "boolean"}};
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      json names = json::array();
      for (int i = 0; i < field->enum_type()->value_count(); ++i) {
        names.push_back(field->enum_type()->value(i)->name());
      }
      schema = {{"type", "string"}, {"enum", names}};
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      schema = {{"type", "string"}};
      if (field->type() == FieldDescriptor::TYPE_BYTES) {
        schema["format"] = "byte";
      }
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (field->message_type()->full_name() == "google.protobuf.Timestamp") {
        schema = {{"type", "string"}, {"format", "date-time"}};
      } else {
        AddSchema(field->message_type(), schemas);
        schema = Ref(field->message_type());
      }
      break;
  }
  if (field->is_repeated()) schema = {{"type", "array"}, {"items", schema}};
  return schema;
}

// Adds `message` and every message it holds to `schemas`.
void AddSchema(const Descriptor* message, json* schemas) {
  if (schemas->contains(message->full_name())) return;
  json& schema = (*schemas)[message->full_name()];
  schema = {{"type", "object"}, {"properties", json::object()}};
  for (int i = 0; i < message->field_count(); ++i) {
    const FieldDescriptor* field = message->field(i);
    json property = FieldSchema(field, schemas);
    (*schemas)[message->full_name()]["properties"][field->name()] = property;
  }
}

json Parameter(const std::string& name, const char* in, const char* about) {
  return {{"name", name},
          {"in", in},
          {"required", std::string(in) == "path"},
          {"description", about},
          {"schema", {{"type", "string"}}}};
}

}  // namespace

std::string OpenApiDocument(const std::vector<ApiRoute>& routes) {
  json schemas = json::object();
  AddSchema(v1::Error::descriptor(), &schemas);
  json paths = json::object();
  static const std::regex kParam("\\{([a-z_]+)\\}");
  for (const ApiRoute& route : routes) {
    json operation = {
        {"summary", route.summary},
        {"tags", {route.path.rfind("/v1/", 0) == 0 ? "v1" : "dashboard"}},
        {"x-newsdedup-role", std::string(RoleName(route.role))}};
    json parameters = json::array();
    for (std::sregex_iterator it(route.path.begin(), route.path.end(), kParam),
         end;
         it != end; ++it) {
      parameters.push_back(Parameter((*it)[1], "path", "an id"));
    }
    for (const std::string& name : route.query) {
      parameters.push_back(
          Parameter(name, "query", "the request field of that name"));
    }
    parameters.push_back(Parameter(kMinSequenceParam, "query",
                                   "replicas: answer once this log entry is "
                                   "applied (503 if not within timeout_ms)"));
    parameters.push_back(Parameter(kTimeoutMsParam, "query",
                                   "replicas: how long to wait for "
                                   "min_sequence, 0 to 60000 (5000)"));
    operation["parameters"] = parameters;
    if (route.body != nullptr) {
      AddSchema(route.body, &schemas);
      operation["requestBody"] = {
          {"required", true},
          {"content", {{route.body_type, {{"schema", Ref(route.body)}}}}}};
    }
    json ok = {{"description", "the answer"}};
    if (route.answer != nullptr) {
      AddSchema(route.answer, &schemas);
      ok["content"] = {{route.answer_type, {{"schema", Ref(route.answer)}}}};
    }
    operation["responses"] = {
        {"200", ok},
        {"default",
         {{"description",
           "an error; its HTTP status follows the gRPC code (400 bad "
           "request, 401/403 token or role, 404 unknown id, 429 limit, 503 "
           "cannot change now)"},
          {"content",
           {{"application/json",
             {{"schema", Ref(v1::Error::descriptor())}}}}}}}};
    std::string method = route.method;
    for (char& c : method) c = static_cast<char>(std::tolower(c));
    paths[route.path][method] = operation;
  }
  json document;
  document["openapi"] = "3.0.3";
  document["info"] = {
      {"title", "newsdedup JSON API"},
      {"version", Version()},
      {"description",
       "Story clustering of news articles: the gRPC service's calls over "
       "HTTP, in protobuf's JSON mapping with proto field names "
       "(docs/integrations.md). With tokens, every route needs "
       "`Authorization: Bearer TOKEN` of at least the role in "
       "x-newsdedup-role."}};
  document["paths"] = paths;
  document["components"]["schemas"] = schemas;
  document["components"]["securitySchemes"]["bearer"] = {{"type", "http"},
                                                         {"scheme", "bearer"}};
  document["security"] = json::array({{{"bearer", json::array()}}});
  return document.dump(2);
}

}  // namespace newsdedup
