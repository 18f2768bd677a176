#include "common/version.h"

namespace newsdedup {

const char* Version() { return NEWSDEDUP_VERSION; }

}  // namespace newsdedup
