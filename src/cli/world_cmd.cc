// `muchator world`: generate the synthetic music world (ingestion files + oracle).
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "world/generate.h"

namespace muchator::cli {
namespace {

class WorldCommand : public Command {
 public:
  std::string name() const override { return "world"; }
  std::string description() const override {
    return "Generate the synthetic music world, or one on the real MTG-Jamendo catalog (--catalog "
           "jamendo): "
           "ingestion JSONL files and an oracle/ folder with the ground truth (docs/world.md)";
  }
  void Declare(Options& opts) override {
    opts.Add(
            "size", &size_,
            "preset sizes: tiny (500 songs, tests), demo (5k songs, 200k events), large (1M songs, "
            "100M events)")
        .OneOf({"tiny", "demo", "large"});
    AddSeed(opts, &seed_, "random seed; same seed and counts give byte-identical files");
    AddOut(opts, &out_, "output directory");
    opts.Add("catalog", &catalog_,
             "where the songs come from: synthetic (generated) or jamendo (the real MTG-Jamendo "
             "catalog and its tags; users, behaviour and text simulated over it)")
        .OneOf({"synthetic", "jamendo"});
    AddPath(opts, PathFlag::kInput, &input_,
            "the MTG-Jamendo folder for --catalog jamendo (e.g. ../shared/data/mtg-jamendo)");
    opts.Add(
            "songs", &songs_,
            "override the number of songs (0 = the size's default; with --catalog jamendo the most "
            "tracks to take, a seeded sample)")
        .Range(0, 1e9);
    opts.Add("artists", &artists_,
             "override the number of artists (0 = default; jamendo: follows from the tracks)")
        .Range(0, 1e9);
    opts.Add("users", &users_, "override the number of users (0 = default)").Range(0, 1e9);
    opts.Add("events", &events_, "override the number of listening events (0 = default)")
        .Range(0, 1e11);
    opts.Add("queries", &queries_, "override the number of queries (0 = default)").Range(0, 1e9);
    opts.Add("days", &days_, "override the length of the behaviour log in days (0 = default)")
        .Range(0, 3650);
  }
  int Run(const Options& opts) override {
    world::WorldConfig c = Config();
    world::GenerateStats st;
    world::Generate(c, out_, &st);
    std::printf(
        "world %s %s (seed %llu) in %s: %lld songs, %lld artists, %lld users, %lld events, %lld "
        "comments, %lld playlists, "
        "%lld documents, %lld relations, %lld queries; %.1f s (%.0f events/s)\n",
        c.catalog.c_str(), c.size.c_str(), static_cast<unsigned long long>(c.seed), out_.c_str(),
        (long long)st.songs, (long long)st.artists, (long long)st.users, (long long)st.events,
        (long long)st.comments, (long long)st.playlists, (long long)st.documents,
        (long long)st.relations, (long long)st.queries, st.seconds,
        st.event_seconds > 0 ? st.events / st.event_seconds : 0.0);
    opts.WriteEffective(out_ + "/world.config.toml");
    return 0;
  }
  world::WorldConfig Config() const {
    world::WorldConfig c = world::WorldConfig::ForSize(size_);
    c.seed = static_cast<uint64_t>(seed_);
    c.catalog = catalog_;
    c.catalog_input = input_;
    if (catalog_ != "synthetic" && input_.empty())
      throw Error("--catalog " + catalog_ + " needs --input", "--input",
                  "give the dataset folder, e.g. --input ../shared/data/mtg-jamendo");
    if (songs_) c.songs = songs_;
    if (artists_) c.artists = artists_;
    if (users_) c.users = users_;
    if (events_) c.events = events_;
    if (queries_) c.queries = queries_;
    if (days_) c.days = static_cast<int>(days_);
    return c;
  }

 private:
  std::string size_ = "demo", out_ = "out/world", catalog_ = "synthetic", input_;
  int64_t seed_ = 1, songs_ = 0, artists_ = 0, users_ = 0, events_ = 0, queries_ = 0, days_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeWorldCommand() { return std::make_unique<WorldCommand>(); }

}  // namespace muchator::cli
