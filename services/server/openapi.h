// The OpenAPI 3 document of the JSON API, generated from the routes the
// server serves (json_api.h) and from the API's protobuf descriptors, so
// that it describes exactly what is served: GET /openapi.json.
#ifndef NEWSDEDUP_SERVICES_SERVER_OPENAPI_H_
#define NEWSDEDUP_SERVICES_SERVER_OPENAPI_H_

#include <string>
#include <vector>

#include "services/server/json_api.h"

namespace newsdedup {

// The document as JSON text. Messages are schemas under
// components/schemas, named by their full proto name, in protobuf's JSON
// mapping (proto field names; 64-bit integers as strings; enums by name;
// Timestamps as RFC 3339 strings).
std::string OpenApiDocument(const std::vector<ApiRoute>& routes);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_OPENAPI_H_
