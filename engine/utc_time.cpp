// The current time in UTC as text.
#include "engine/utc_time.h"

#include <ctime>

namespace diverge {

std::string utc_time(const char* strftime_format) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[64];
  std::strftime(text, sizeof text, strftime_format, &utc);
  return text;
}

}  // namespace diverge
