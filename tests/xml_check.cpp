// A minimal XML reader for tests: a recursive-descent well-formedness check that builds an element tree.
#include "tests/xml_check.h"

#include <cctype>
#include <sstream>
#include <stdexcept>

namespace diverge::test {
namespace {

class XmlParser {
 public:
  explicit XmlParser(std::string_view doc) : doc_(doc) {}

  XmlElement document() {
    if (starts_with("<?xml")) skip_past("?>");
    skip_misc();
    if (!starts_with("<")) fail("expected the root element");
    XmlElement root = element();
    skip_misc();
    if (pos_ != doc_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::ostringstream msg;
    msg << "XML not well formed at byte " << pos_ << ": " << what;
    throw std::runtime_error(msg.str());
  }

  bool starts_with(std::string_view s) const { return doc_.substr(pos_, s.size()) == s; }

  void expect(std::string_view s) {
    if (!starts_with(s)) fail("expected '" + std::string(s) + "'");
    pos_ += s.size();
  }

  void skip_past(std::string_view end) {
    const auto found = doc_.find(end, pos_);
    if (found == std::string_view::npos) fail("unterminated construct, missing '" + std::string(end) + "'");
    pos_ = found + end.size();
  }

  void skip_space() {
    while (pos_ < doc_.size() && std::isspace(static_cast<unsigned char>(doc_[pos_]))) ++pos_;
  }

  // Whitespace, comments and processing instructions allowed around the root element.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts_with("<!--")) {
        skip_past("-->");
      } else if (starts_with("<?")) {
        skip_past("?>");
      } else {
        return;
      }
    }
  }

  static bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
  static bool name_char(char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  }

  std::string name() {
    if (pos_ >= doc_.size() || !name_start(doc_[pos_])) fail("expected a name");
    const std::size_t start = pos_;
    while (pos_ < doc_.size() && name_char(doc_[pos_])) ++pos_;
    return std::string(doc_.substr(start, pos_ - start));
  }

  // Resolves one entity reference starting at '&'.
  std::string entity() {
    const auto end = doc_.find(';', pos_);
    if (end == std::string_view::npos || end - pos_ > 10) fail("'&' that does not start an entity");
    const std::string_view ref = doc_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    if (ref == "amp") return "&";
    if (ref == "lt") return "<";
    if (ref == "gt") return ">";
    if (ref == "quot") return "\"";
    if (ref == "apos") return "'";
    const bool hex = ref.size() > 2 && ref[0] == '#' && ref[1] == 'x';
    const std::string_view digits = ref.substr(hex ? 2 : 1);
    if (ref.size() < 2 || ref[0] != '#' || digits.empty()) fail("unknown entity '&" + std::string(ref) + ";'");
    for (char c : digits)
      if (!(hex ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c))))
        fail("bad character reference '&" + std::string(ref) + ";'");
    return "?";  // the tests never look at the character itself
  }

  std::string attribute_value() {
    if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) fail("attribute value without quotes");
    const char quote = doc_[pos_++];
    std::string value;
    while (pos_ < doc_.size() && doc_[pos_] != quote) {
      if (doc_[pos_] == '<') fail("'<' inside an attribute value");
      if (doc_[pos_] == '&') {
        value += entity();
      } else {
        value += doc_[pos_++];
      }
    }
    if (pos_ >= doc_.size()) fail("unterminated attribute value");
    ++pos_;
    return value;
  }

  void attributes(XmlElement& e) {
    for (;;) {
      const std::size_t before = pos_;
      skip_space();
      if (starts_with(">") || starts_with("/>")) return;
      if (pos_ == before) fail("attributes must be separated by whitespace");
      std::string attr = name();
      if (e.attribute(attr) != nullptr) fail("attribute '" + attr + "' repeated");
      skip_space();
      expect("=");
      skip_space();
      e.attributes.emplace_back(std::move(attr), attribute_value());
    }
  }

  void content(XmlElement& e) {
    for (;;) {
      if (pos_ >= doc_.size()) fail("element <" + e.name + "> is never closed");
      if (starts_with("</")) return;
      if (starts_with("<!--")) {
        skip_past("-->");
      } else if (starts_with("<![CDATA[")) {
        pos_ += 9;
        const auto end = doc_.find("]]>", pos_);
        if (end == std::string_view::npos) fail("unterminated CDATA section");
        e.text += doc_.substr(pos_, end - pos_);
        pos_ = end + 3;
      } else if (starts_with("<")) {
        e.children.push_back(element());
      } else if (doc_[pos_] == '&') {
        e.text += entity();
      } else {
        if (starts_with("]]>")) fail("']]>' in text");
        e.text += doc_[pos_++];
      }
    }
  }

  XmlElement element() {
    expect("<");
    XmlElement e;
    e.name = name();
    attributes(e);
    if (starts_with("/>")) {
      pos_ += 2;
      return e;
    }
    expect(">");
    content(e);
    expect("</");
    const std::string closing = name();
    if (closing != e.name) fail("</" + closing + "> closes <" + e.name + ">");
    skip_space();
    expect(">");
    return e;
  }

  std::string_view doc_;
  std::size_t pos_ = 0;
};

bool has_class(const XmlElement& e, std::string_view css_class) {
  const std::string* classes = e.attribute("class");
  if (classes == nullptr) return false;
  std::istringstream words(*classes);
  std::string word;
  while (words >> word)
    if (word == css_class) return true;
  return false;
}

void collect(const XmlElement& e, std::string_view name, std::string_view css_class,
             std::vector<const XmlElement*>& out) {
  if (e.name == name && (css_class.empty() || has_class(e, css_class))) out.push_back(&e);
  for (const auto& child : e.children) collect(child, name, css_class, out);
}

}  // namespace

const std::string* XmlElement::attribute(std::string_view attr_name) const {
  for (const auto& [n, v] : attributes)
    if (n == attr_name) return &v;
  return nullptr;
}

XmlElement parse_xml(std::string_view document) { return XmlParser(document).document(); }

std::vector<const XmlElement*> find_elements(const XmlElement& root, std::string_view name,
                                             std::string_view css_class) {
  std::vector<const XmlElement*> out;
  collect(root, name, css_class, out);
  return out;
}

}  // namespace diverge::test
