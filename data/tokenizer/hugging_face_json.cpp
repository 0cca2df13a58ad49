// A strict-reader consumer for tokenizer.json that streams model.vocab / model.merges into vectors and builds a tree
// of everything else.
#include "data/tokenizer/hugging_face_json.h"

#include <utility>

#include "engine/error.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_tree.h"
#include "engine/json/strict_events.h"

namespace diverge::data {

namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(HuggingFaceJson& out, std::string_view where) : out_(out), where_(where) {}

  void null() { tree_value().null(); }
  void boolean(bool v) { tree_value().boolean(v); }
  void number_integer(json::number_integer_t v) {
    if (mode_ == Mode::vocab) return vocab_id(v);
    tree_value().number_integer(v);
  }
  void number_unsigned(json::number_unsigned_t v) {
    // Ids beyond int64 are out of range anyway; saturate and let the loader's range check report it.
    if (mode_ == Mode::vocab) return vocab_id(v > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(v));
    tree_value().number_unsigned(v);
  }
  void number_float(json::number_float_t v) { tree_value().number_float(v); }
  void string(json::string_t& v) {
    if (mode_ == Mode::merges) return merge_string(v);
    if (mode_ == Mode::merge_pair) {
      if (pair_.size() == 2) bad_merge();
      pair_.push_back(std::move(v));
      return;
    }
    tree_value().string(v);
  }

  void start_object() {
    if (std::exchange(pending_, Mode::tree) == Mode::vocab) {
      mode_ = Mode::vocab;
      out_.has_vocab = true;
      return;
    }
    tree_value().start_object();
    if (depth_ == 1 && key_is_model_) model_open_ = true;
    ++depth_;
  }
  // Keys of a streamed vocab are tokens; two equal tokens are refused by the loader, which names them. Every other
  // key enters the tree, model.vocab and model.merges too (as null when streamed), so the tree refuses duplicates.
  bool key(json::string_t& k) {
    if (mode_ == Mode::vocab) {
      token_ = std::move(k);
      return true;
    }
    if (depth_ == 1) key_is_model_ = k == "model";
    // Decided by the next event: stream an object/array, else keep the key and value in the tree.
    if (depth_ == 2 && model_open_ && (k == "vocab" || k == "merges"))
      pending_ = k == "vocab" ? Mode::vocab : Mode::merges;
    return tree_.key(k);
  }
  void end_object() {
    if (mode_ == Mode::vocab) {
      mode_ = Mode::tree;
      return;
    }
    close_container();
    tree_.end_object();
  }
  void start_array() {
    if (mode_ == Mode::merges) {
      mode_ = Mode::merge_pair;
      pair_.clear();
      return;
    }
    if (std::exchange(pending_, Mode::tree) == Mode::merges) {
      mode_ = Mode::merges;
      out_.has_merges = true;
      return;
    }
    tree_value().start_array();
    ++depth_;
  }
  void end_array() {
    if (mode_ == Mode::merge_pair) {
      if (pair_.size() != 2) bad_merge();
      out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::merges;
      return;
    }
    if (mode_ == Mode::merges) {
      mode_ = Mode::tree;
      return;
    }
    close_container();
    tree_.end_array();
  }

  void finish() { out_.rest = std::move(tree_).take(); }

 private:
  enum class Mode { tree, vocab, merges, merge_pair };

  // The tree, for an event outside the streamed sections; inside them any other event is a malformed entry.
  JsonTree<json>& tree_value() {
    if (mode_ == Mode::vocab) bad_vocab_id();
    if (mode_ != Mode::tree) bad_merge();
    pending_ = Mode::tree;
    return tree_;
  }
  void close_container() {
    --depth_;
    if (depth_ == 1) model_open_ = false;
  }
  void vocab_id(std::int64_t id) { out_.vocab.emplace_back(std::move(token_), id); }
  void merge_string(const std::string& text) {
    std::size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) bad_merge();
    out_.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
  }
  [[noreturn]] void bad_vocab_id() {
    throw Error(where_, "model.vocab['" + brief_text(token_) + "']: id is not an integer");
  }
  [[noreturn]] void bad_merge() {
    throw Error(where_, "model.merges[" + std::to_string(out_.merges.size()) +
                            "]: expected \"a b\" (one space) or [\"a\", \"b\"]");
  }

  HuggingFaceJson& out_;
  std::string where_;
  JsonTree<json> tree_;
  std::size_t depth_ = 0;      // open containers of the tree
  bool key_is_model_ = false;  // the top-level object's current key is "model"
  bool model_open_ = false;    // the top-level "model" object is open
  std::string token_;
  std::vector<std::string> pair_;
  Mode mode_ = Mode::tree;
  Mode pending_ = Mode::tree;
};

}  // namespace

HuggingFaceJson read_hugging_face_json(const std::string& text, std::string_view where) {
  HuggingFaceJson out;
  Reader reader(out, where);
  parse_strictly<json>(text, where, reader);
  reader.finish();
  return out;
}

}  // namespace diverge::data
