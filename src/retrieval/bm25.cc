#include "retrieval/bm25.h"

#include <xapian.h>

namespace muchator {

struct Bm25Index::Impl {
  Xapian::WritableDatabase db{std::string(), Xapian::DB_BACKEND_INMEMORY};
  Xapian::Stem stem{"english"};
};

Bm25Index::Bm25Index() : impl_(std::make_unique<Impl>()) {}
Bm25Index::~Bm25Index() = default;

void Bm25Index::Add(const std::string& id, const std::string& text) {
  Xapian::TermGenerator gen;
  gen.set_stemmer(impl_->stem);
  Xapian::Document doc;
  gen.set_document(doc);
  gen.index_text(text);
  doc.set_data(id);
  impl_->db.add_document(doc);
}

std::vector<std::pair<std::string, double>> Bm25Index::Search(const std::string& query,
                                                              int k) const {
  Xapian::QueryParser qp;
  qp.set_stemmer(impl_->stem);
  qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
  qp.set_database(impl_->db);
  qp.set_default_op(Xapian::Query::OP_OR);
  Xapian::Enquire enquire(impl_->db);
  enquire.set_query(qp.parse_query(query, 0));  // no operators: user text is plain words
  enquire.set_weighting_scheme(Xapian::BM25Weight());
  std::vector<std::pair<std::string, double>> out;
  Xapian::MSet mset = enquire.get_mset(0, k);
  for (auto it = mset.begin(); it != mset.end(); ++it)
    out.push_back({it.get_document().get_data(), it.get_weight()});
  return out;
}

size_t Bm25Index::size() const { return impl_->db.get_doccount(); }

}  // namespace muchator
