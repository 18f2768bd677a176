// The dashboard's files (services/server/dashboard/), compiled into the binary
// so that the server needs nothing beside itself. The .cc is generated at build
// time by cmake/EmbedDashboard.cmake.
#ifndef NEWSDEDUP_SERVICES_SERVER_DASHBOARD_ASSETS_H_
#define NEWSDEDUP_SERVICES_SERVER_DASHBOARD_ASSETS_H_

#include <string>
#include <vector>

namespace newsdedup {

struct DashboardAsset {
  std::string path;          // "/", "/app.js", ...
  std::string content_type;  // "text/html; charset=utf-8", ...
  std::string content;
};

const std::vector<DashboardAsset>& DashboardAssets();

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_DASHBOARD_ASSETS_H_
