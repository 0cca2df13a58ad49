// The current time in UTC as text, for run directories and reports.
#pragma once

#include <string>

namespace diverge {

// Now in UTC through strftime's format, e.g. "%Y-%m-%dT%H:%M:%SZ" (ISO 8601) or "%Y%m%dT%H%M%SZ" (a file name's).
std::string utc_time(const char* strftime_format);

}  // namespace diverge
