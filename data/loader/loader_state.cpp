// LoaderState: JSON round trip with validation, and the comparison of fingerprints.
#include "data/loader/loader_state.h"

#include <utility>

#include "engine/error.h"

namespace diverge::data {
namespace {

using nlohmann::json;

const json& member(const json& j, const std::string& key, const std::string& where) {
  check(j.is_object(), where, "expected an object, got " + j.dump());
  const auto it = j.find(key);
  check(it != j.end(), where, "missing key '" + key + "'");
  return *it;
}

std::uint64_t unsigned_member(const json& j, const std::string& key, const std::string& where) {
  const json& v = member(j, key, where);
  check(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0), where + ": " + key,
        "expected a non-negative integer, got " + v.dump());
  return v.get<std::uint64_t>();
}

std::string describe_streams(const std::vector<StreamFingerprint>& saved, const std::vector<StreamFingerprint>& now) {
  if (saved.size() != now.size())
    return std::to_string(saved.size()) + " train streams (saved) vs " + std::to_string(now.size()) + " (now)";
  for (std::size_t s = 0; s < saved.size(); ++s) {
    const auto& a = saved[s];
    const auto& b = now[s];
    if (a.name != b.name)
      return "stream " + std::to_string(s) + " is '" + a.name + "' (saved) vs '" + b.name + "' (now)";
    if (a.tokens != b.tokens)
      return "stream '" + a.name + "': " + std::to_string(a.tokens) + " tokens (saved) vs " + std::to_string(b.tokens) +
             " (now)";
    if (a.documents != b.documents)
      return "stream '" + a.name + "': " + std::to_string(a.documents) + " documents (saved) vs " +
             std::to_string(b.documents) + " (now)";
  }
  return "";
}

}  // namespace

json LoaderState::to_json() const {
  json streams_json = json::array();
  for (std::size_t s = 0; s < streams.size(); ++s)
    streams_json.push_back({{"name", streams[s].name},
                            {"tokens", streams[s].tokens},
                            {"documents", streams[s].documents},
                            {"taken", taken[s]}});
  return {{"format_version", kFormatVersion},
          {"global_sample", global_sample},
          {"seed", seed},
          {"seq_len", seq_len},
          {"streams", streams_json}};
}

LoaderState LoaderState::from_json(const json& j, const std::string& where) {
  const std::uint64_t version = unsigned_member(j, "format_version", where);
  check(version == kFormatVersion, where + ": format_version",
        "is " + std::to_string(version) + ", this build reads " + std::to_string(kFormatVersion));
  LoaderState state;
  state.global_sample = unsigned_member(j, "global_sample", where);
  state.seed = unsigned_member(j, "seed", where);
  state.seq_len = static_cast<std::int64_t>(unsigned_member(j, "seq_len", where));
  const json& streams = member(j, "streams", where);
  check(streams.is_array(), where + ": streams", "expected an array, got " + streams.dump());
  for (std::size_t s = 0; s < streams.size(); ++s) {
    const std::string at = where + ": streams[" + std::to_string(s) + "]";
    const json& name = member(streams[s], "name", at);
    check(name.is_string(), at + ": name", "expected a string, got " + name.dump());
    state.streams.push_back({name.get<std::string>(), unsigned_member(streams[s], "tokens", at),
                             unsigned_member(streams[s], "documents", at)});
    state.taken.push_back(unsigned_member(streams[s], "taken", at));
  }
  return state;
}

std::string fingerprint_mismatch(const LoaderState& saved, const LoaderState& current) {
  if (saved.seed != current.seed)
    return "seed " + std::to_string(saved.seed) + " (saved) vs " + std::to_string(current.seed) + " (now)";
  if (saved.seq_len != current.seq_len)
    return "seq_len " + std::to_string(saved.seq_len) + " (saved) vs " + std::to_string(current.seq_len) + " (now)";
  return describe_streams(saved.streams, current.streams);
}

}  // namespace diverge::data
