// A SAX handler for tokenizer.json that streams model.vocab / model.merges and builds a tree of everything else.
#include "data/tokenizer/hugging_face_json.h"

#include "engine/error.h"

namespace diverge::data {

namespace {

using nlohmann::json;

class Reader : public nlohmann::json_sax<json> {
 public:
  Reader(HuggingFaceJson& out, std::string_view where) : out_(out), where_(where) {}

  bool null() override { return value(nullptr); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::vocab) return vocab_id(v);
    return value(v);
  }
  bool number_unsigned(number_unsigned_t v) override {
    // Ids beyond int64 are out of range anyway; saturate and let the loader's range check report it.
    if (mode_ == Mode::vocab) return vocab_id(v > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(v));
    return value(v);
  }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool binary(binary_t& v) override { return value(std::move(v)); }
  bool string(string_t& v) override {
    if (mode_ == Mode::merges) return merge_string(v);
    if (mode_ == Mode::merge_pair) {
      if (pair_.size() == 2) bad_merge();
      pair_.push_back(std::move(v));
      return true;
    }
    return value(std::move(v));
  }

  bool start_object(std::size_t) override {
    if (pending_ == Mode::vocab) {
      pending_ = Mode::tree;
      mode_ = Mode::vocab;
      out_.has_vocab = true;
      return true;
    }
    return open(json::object());
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::vocab) {
      token_ = std::move(k);
      return true;
    }
    if (model_ != nullptr && stack_.back() == model_ && (k == "vocab" || k == "merges")) {
      // Decided by the next event: stream an object/array, else keep the key and value in the tree.
      pending_ = k == "vocab" ? Mode::vocab : Mode::merges;
    }
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::vocab) {
      mode_ = Mode::tree;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::merges) {
      mode_ = Mode::merge_pair;
      pair_.clear();
      return true;
    }
    if (pending_ == Mode::merges) {
      pending_ = Mode::tree;
      mode_ = Mode::merges;
      out_.has_merges = true;
      return true;
    }
    return open(json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::merge_pair) {
      if (pair_.size() != 2) bad_merge();
      out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::merges;
      return true;
    }
    if (mode_ == Mode::merges) {
      mode_ = Mode::tree;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) override {
    throw Error(where_, std::string("malformed JSON: ") + e.what());
  }

 private:
  enum class Mode { tree, vocab, merges, merge_pair };

  // Any event other than the expected ones inside a streamed section is a malformed entry.
  bool value(json v) {
    if (mode_ == Mode::vocab) bad_vocab_id();
    if (mode_ != Mode::tree) bad_merge();
    pending_ = Mode::tree;
    add(std::move(v));
    return true;
  }
  bool open(json container) {
    if (mode_ == Mode::vocab) bad_vocab_id();
    if (mode_ != Mode::tree) bad_merge();
    bool is_model = stack_.size() == 1 && key_ == "model" && container.is_object();
    pending_ = Mode::tree;
    json* slot = add(std::move(container));
    if (is_model) model_ = slot;
    stack_.push_back(slot);
    return true;
  }
  // Places v in the current container (or as the root); returns where it now lives. Open containers are never moved:
  // a parent only grows after its open child has closed.
  json* add(json v) {
    if (stack_.empty()) {
      out_.rest = std::move(v);
      return &out_.rest;
    }
    json& parent = *stack_.back();
    if (parent.is_object()) return &(parent[key_] = std::move(v));
    parent.push_back(std::move(v));
    return &parent.back();
  }
  bool vocab_id(std::int64_t id) {
    out_.vocab.emplace_back(std::move(token_), id);
    return true;
  }
  bool merge_string(const std::string& text) {
    std::size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) bad_merge();
    out_.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    return true;
  }
  [[noreturn]] void bad_vocab_id() {
    throw Error(where_, "model.vocab['" + token_ + "']: id is not an integer");
  }
  [[noreturn]] void bad_merge() {
    throw Error(where_, "model.merges[" + std::to_string(out_.merges.size()) +
                            "]: expected \"a b\" (one space) or [\"a\", \"b\"]");
  }

  HuggingFaceJson& out_;
  std::string where_;
  std::vector<json*> stack_;  // open containers of the tree, outermost first
  json* model_ = nullptr;     // the tree's model object, once opened
  std::string key_;
  std::string token_;
  std::vector<std::string> pair_;
  Mode mode_ = Mode::tree;
  Mode pending_ = Mode::tree;
};

}  // namespace

HuggingFaceJson read_hugging_face_json(const std::string& text, std::string_view where) {
  HuggingFaceJson out;
  Reader reader(out, where);
  json::sax_parse(text, &reader);
  return out;
}

}  // namespace diverge::data
