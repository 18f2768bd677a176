# cmake -DOUT=file.cc -DDIR=services/server/dashboard -P EmbedDashboard.cmake
# Writes a C++ file defining newsdedup::DashboardAssets() with the contents
# of index.html, app.js and style.css as raw string literals.
set(assets "index.html|/|text/html" "app.js|/app.js|text/javascript"
           "style.css|/style.css|text/css")
set(body "")
foreach(entry ${assets})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 file)
  list(GET parts 1 path)
  list(GET parts 2 type)
  file(READ "${DIR}/${file}" content)
  string(FIND "${content}" ")ndasset\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw-string delimiter")
  endif()
  string(APPEND body "      {\"${path}\", \"${type}; charset=utf-8\",\n       R\"ndasset(${content})ndasset\"},\n")
endforeach()
file(WRITE "${OUT}.tmp"
"// Generated from services/server/dashboard/ by cmake/EmbedDashboard.cmake.
#include \"services/server/dashboard_assets.h\"

namespace newsdedup {

const std::vector<DashboardAsset>& DashboardAssets() {
  static const auto* assets = new std::vector<DashboardAsset>{
${body}  };
  return *assets;
}

}  // namespace newsdedup
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
