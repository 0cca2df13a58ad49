// A minimal SVG document builder: escaping, compact number formatting, element nesting.
#include "engine/plot/svg.h"

#include <cmath>
#include <cstdio>

#include "engine/error.h"

namespace diverge::plot {

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\t':
      case '\n':
      case '\r': out += c; break;
      default:
        // XML 1.0 has no way to write the other control characters, escaped or not.
        out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
  }
  return out;
}

std::string format_number(double value) {
  check(std::isfinite(value), "svg", "a non-finite number reached the document");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", value);
  std::string s(buf);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

double approximate_text_width(std::string_view text, double font_size) {
  std::size_t code_points = 0;
  for (char c : text) code_points += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return static_cast<double>(code_points) * 0.6 * font_size;
}

Attr::Attr(std::string_view attr_name, double number) : name(attr_name), value(format_number(number)) {}
Attr::Attr(std::string_view attr_name, std::string_view text) : name(attr_name), value(escape_xml(text)) {}

void PathData::point(char command, double x, double y) {
  data_ += command;
  data_ += format_number(x);
  data_ += ',';
  data_ += format_number(y);
}

void PathData::move_to(double x, double y) { point('M', x, y); }
void PathData::line_to(double x, double y) { point('L', x, y); }

SvgDocument::SvgDocument(double width, double height) : width_(width), height_(height) {
  out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  open("svg", {{"xmlns", "http://www.w3.org/2000/svg"},
               {"width", width},
               {"height", height},
               {"viewBox", "0 0 " + format_number(width) + " " + format_number(height)}});
}

void SvgDocument::indent() { out_.append(2 * open_tags_.size(), ' '); }

void SvgDocument::start_tag(std::string_view tag, Attrs attrs) {
  indent();
  out_ += '<';
  out_ += tag;
  for (const auto& a : attrs) {
    out_ += ' ';
    out_ += a.name;
    out_ += "=\"";
    out_ += a.value;
    out_ += '"';
  }
}

void SvgDocument::open(std::string_view tag, Attrs attrs) {
  start_tag(tag, attrs);
  out_ += ">\n";
  open_tags_.emplace_back(tag);
}

void SvgDocument::close() {
  check(!open_tags_.empty(), "svg", "close() without an open element");
  std::string tag = std::move(open_tags_.back());
  open_tags_.pop_back();
  indent();
  out_ += "</" + tag + ">\n";
}

void SvgDocument::element(std::string_view tag, Attrs attrs) {
  start_tag(tag, attrs);
  out_ += "/>\n";
}

void SvgDocument::text_element(std::string_view tag, Attrs attrs, std::string_view text) {
  start_tag(tag, attrs);
  out_ += '>';
  out_ += escape_xml(text);
  out_ += "</";
  out_ += tag;
  out_ += ">\n";
}

void SvgDocument::style(std::string_view css) {
  indent();
  out_ += "<style><![CDATA[\n";
  out_ += css;
  out_ += "]]></style>\n";
}

std::string SvgDocument::finish() {
  while (!open_tags_.empty()) close();
  return std::move(out_);
}

}  // namespace diverge::plot
