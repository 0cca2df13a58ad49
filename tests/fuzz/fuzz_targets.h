// The fuzz harness bodies: each feeds one input to one file reader of the project. The libFuzzer entry points and
// the regression test that replays kept inputs run these same functions.
#pragma once

#include <array>
#include <string_view>

namespace diverge::fuzz {

// A reader may refuse an input only with a diverge::Error of one line; anything else (another exception, a message
// with a newline or longer than a line should be, a crash, a leak, undefined behaviour) is a finding. A property
// that fails (a config that does not survive its own round trip, a tokenizer whose decode(encode(x)) is not x) throws
// std::logic_error, which is a finding too.
void fuzz_config(std::string_view data);            // config file text, then '\0' and --set lines
void fuzz_manifest(std::string_view data);          // manifest.json
void fuzz_shard_index(std::string_view data);       // .bin size (u16) and vocabulary size (u16, 0: none), then .idx
void fuzz_tiktoken(std::string_view data);          // r50k_base.tiktoken
void fuzz_gpt2(std::string_view data);              // encoder.json, then '\0' and vocab.bpe
void fuzz_hugging_face(std::string_view data);      // tokenizer.json, then optionally '\0' and tokenizer_config.json
void fuzz_safetensors(std::string_view data);       // a whole .safetensors file
void fuzz_checkpoint_state(std::string_view data);  // a checkpoint's state.json, its loader state included

struct Target {
  std::string_view name;  // the harness's directory under tests/fuzz/seeds and tests/fuzz/regressions
  void (*run)(std::string_view data);
};

inline constexpr std::array<Target, 8> kTargets = {{
    {"config", fuzz_config},
    {"manifest", fuzz_manifest},
    {"shard_index", fuzz_shard_index},
    {"tiktoken", fuzz_tiktoken},
    {"gpt2", fuzz_gpt2},
    {"hugging_face", fuzz_hugging_face},
    {"safetensors", fuzz_safetensors},
    {"checkpoint_state", fuzz_checkpoint_state},
}};

}  // namespace diverge::fuzz
