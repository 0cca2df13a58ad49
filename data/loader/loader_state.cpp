// LoaderState: JSON round trip with validation, and the comparison of fingerprints.
#include "data/loader/loader_state.h"

#include <utility>

#include "engine/error.h"
#include "engine/json/json_quote.h"

namespace diverge::data {
namespace {

using nlohmann::json;

// Where a value sits: the file and the JSON path of the loader state inside it, e.g. "loader.streams[1].taken".
struct Place {
  std::string_view where;
  std::string path;

  Place at(std::string_view key) const { return {where, path + "." + std::string(key)}; }
  Place element(std::size_t i) const { return {where, path + "[" + std::to_string(i) + "]"}; }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where, path + ": " + what); }
};

const json& member(const json& j, const std::string& key, const Place& place) {
  if (!j.is_object()) place.fail("expected an object, got " + quote_json(j));
  const auto it = j.find(key);
  if (it == j.end()) place.fail("missing key '" + key + "'");
  return *it;
}

std::uint64_t unsigned_member(const json& j, const std::string& key, const Place& place) {
  const json& v = member(j, key, place);
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<std::int64_t>() < 0))
    place.at(key).fail("expected a non-negative integer, got " + quote_json(v));
  return v.get<std::uint64_t>();
}

// The blender's invariant: every global sample was taken from exactly one stream.
void check_taken_sum(const LoaderState& state, const Place& place) {
  std::uint64_t total = 0;  // stays <= global_sample, so the subtraction below cannot wrap
  bool sums = true;
  for (const std::uint64_t taken : state.taken) {
    sums = taken <= state.global_sample - total;
    if (!sums) break;
    total += taken;
  }
  if (!sums || total != state.global_sample)
    place.at("global_sample")
        .fail("is " + std::to_string(state.global_sample) + " but the streams' taken counts do not sum to it");
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

LoaderState LoaderState::from_json(const json& j, std::string_view where, const std::string& path) {
  const Place place{where, path};
  const std::uint64_t version = unsigned_member(j, "format_version", place);
  if (version != kFormatVersion)
    place.at("format_version")
        .fail("is " + std::to_string(version) + ", this build reads " + std::to_string(kFormatVersion));
  LoaderState state;
  state.global_sample = unsigned_member(j, "global_sample", place);
  state.seed = unsigned_member(j, "seed", place);
  state.seq_len = static_cast<std::int64_t>(unsigned_member(j, "seq_len", place));
  const json& streams = member(j, "streams", place);
  if (!streams.is_array()) place.at("streams").fail("expected an array, got " + quote_json(streams));
  for (std::size_t s = 0; s < streams.size(); ++s) {
    const Place at = place.at("streams").element(s);
    const json& name = member(streams[s], "name", at);
    if (!name.is_string()) at.at("name").fail("expected a string, got " + quote_json(name));
    state.streams.push_back({name.get<std::string>(), unsigned_member(streams[s], "tokens", at),
                             unsigned_member(streams[s], "documents", at)});
    state.taken.push_back(unsigned_member(streams[s], "taken", at));
  }
  check_taken_sum(state, place);
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
