#include "world/concepts.h"

#include "core/error.h"
#include "world/jamendo.h"

namespace muchator::world {

using V = std::vector<std::string>;

namespace {
Concept Make(std::string id, ConceptKind kind, V meta, V social, V qtrain, V qtest) {
  Concept c;
  c.id = std::move(id);
  c.kind = kind;
  c.meta = std::move(meta);
  c.social = std::move(social);
  c.query_train = std::move(qtrain);
  c.query_test = std::move(qtest);
  return c;
}
}  // namespace

Concept GenreConcept(std::string id, double energy, V meta, V social, V qtrain, V qtest) {
  Concept c = Make(std::move(id), ConceptKind::kGenre, std::move(meta), std::move(social),
                   std::move(qtrain), std::move(qtest));
  c.energy = energy;
  return c;
}
Concept MoodConcept(std::string id, double valence, double arousal, V meta, V social, V qtrain,
                    V qtest) {
  Concept c = Make(std::move(id), ConceptKind::kMood, std::move(meta), std::move(social),
                   std::move(qtrain), std::move(qtest));
  c.valence = valence;
  c.energy = arousal;
  return c;
}
Concept SituationConcept(std::string id, double energy, double valence, V moods, V genres, V meta,
                         V social, V qtrain, V qtest) {
  Concept c = Make(std::move(id), ConceptKind::kSituation, std::move(meta), std::move(social),
                   std::move(qtrain), std::move(qtest));
  c.energy = energy;
  c.valence = valence;
  c.moods = std::move(moods);
  c.genres = std::move(genres);
  return c;
}

namespace {
// Short names for the tables below.
constexpr auto& G = GenreConcept;
constexpr auto& M = MoodConcept;
constexpr auto& S = SituationConcept;
}  // namespace

const std::vector<Concept>& Genres() {
  static const std::vector<Concept> v = {
      G("pop", 0.6, {"pop"}, {"poppy bangers", "chart toppers"}, {"mainstream hits"},
        {"top forty fare"}),
      G("rock", 0.72, {"rock"}, {"guitar rock", "rock anthems"}, {"loud guitars"},
        {"riff heavy tracks"}),
      G("hip_hop", 0.7, {"hip hop", "rap"}, {"bars", "rap bangers"}, {"spitting rhymes"},
        {"boom bap stuff"}),
      G("electronic", 0.72, {"electronic", "synth"}, {"synthwave", "electro"}, {"computer beats"},
        {"blippy bleepy tracks"}),
      G("folk", 0.35, {"folk"}, {"acoustic folk", "campfire songs"}, {"strummy storytelling"},
        {"banjo and harmonies"}),
      G("jazz", 0.42, {"jazz"}, {"smooth jazz", "jazz cafe"}, {"sax and brushes"},
        {"smoky club sounds"}),
      G("classical", 0.25, {"classical", "orchestral"}, {"symphonies", "piano pieces"},
        {"old masters"}, {"string quartet type"}),
      G("rnb", 0.5, {"r&b", "rhythm and blues"}, {"slow jams", "rnb grooves"}, {"silky vocals"},
        {"velvet voiced crooning"}),
      G("country", 0.52, {"country"}, {"country roads", "honky tonk"}, {"cowboy tunes"},
        {"pickup truck ballads"}),
      G("metal", 0.92, {"metal", "heavy metal"}, {"headbanging", "metalhead"}, {"screamy guitars"},
        {"double bass drum madness"}),
      G("indie", 0.5, {"indie", "indie rock"}, {"indie gems", "alt picks"}, {"underground bands"},
        {"hipster favourites"}),
      G("lofi", 0.22, {"lo-fi", "lofi beats"}, {"lofi hip hop", "chillhop"},
        {"crackly mellow beats"}, {"dusty tape loops"}),
      G("reggae", 0.5, {"reggae"}, {"island riddims", "roots reggae"}, {"jamaican grooves"},
        {"offbeat skank rhythms"}),
      G("blues", 0.4, {"blues"}, {"delta blues", "twelve bar"}, {"bluesy wailing"},
        {"slide guitar laments"}),
      G("punk", 0.88, {"punk", "punk rock"}, {"pogo", "three chord punk"}, {"snotty fast songs"},
        {"safety pin anthems"}),
      G("ambient", 0.12, {"ambient"}, {"drone", "soundscapes"}, {"floaty textures"},
        {"wallpaper music"}),
      G("kpop", 0.72, {"k-pop", "korean pop"}, {"idol tracks", "kpop stans"}, {"idol group bops"},
        {"seoul boy band stuff"}),
      G("latin", 0.7, {"latin", "reggaeton"}, {"latin heat", "perreo"}, {"spanish dance beats"},
        {"salsa flavoured jams"}),
      G("soul", 0.48, {"soul"}, {"motown", "soulful classics"}, {"gospel tinged voices"},
        {"old school heartfelt singing"}),
      G("edm", 0.9, {"edm", "dance music"}, {"festival bangers", "drops"}, {"club thumpers"},
        {"rave ready tracks"}),
  };
  return v;
}

const std::vector<Concept>& Moods() {
  static const std::vector<Concept> v = {
      M("happy", 0.9, 0.68, {"happy", "joyful"}, {"feel good", "good vibes"},
        {"puts a smile on my face"}, {"sunny disposition"}),
      M("sad", 0.1, 0.3, {"sad", "sorrowful"}, {"tearjerker", "crying songs"},
        {"makes me want to cry"}, {"weepy"}),
      M("calm", 0.6, 0.15, {"calm", "tranquil"}, {"chill vibes", "so relaxing"}, {"low key"},
        {"unhurried"}),
      M("energetic", 0.7, 0.95, {"energetic", "upbeat"}, {"pumped", "high energy"},
        {"gets my blood pumping"}, {"amped up"}),
      M("romantic", 0.75, 0.4, {"romantic", "tender"}, {"love songs", "swoon"}, {"lovey dovey"},
        {"butterflies in my stomach"}),
      M("angry", 0.1, 0.9, {"angry", "furious"}, {"rage", "so aggressive"}, {"pissed off"},
        {"seeing red"}),
      M("nostalgic", 0.45, 0.35, {"nostalgic", "wistful"}, {"throwback feels", "memories"},
        {"takes me back"}, {"rose tinted reminiscing"}),
      M("melancholic", 0.2, 0.25, {"melancholic", "bittersweet"}, {"moody", "gloomy"},
        {"blue and mopey"}, {"downcast"}),
      M("hopeful", 0.75, 0.5, {"hopeful", "uplifting"}, {"inspiring", "motivational"},
        {"light at the end of the tunnel"}, {"chin up"}),
      M("dreamy", 0.6, 0.25, {"dreamy", "ethereal"}, {"floaty", "hazy"}, {"head in the clouds"},
        {"otherworldly haze"}),
      M("confident", 0.8, 0.75, {"confident", "empowering"}, {"boss energy", "swagger"},
        {"main character energy"}, {"feeling like a million bucks"}),
      M("lonely", 0.15, 0.2, {"lonely", "solitary"}, {"alone again", "empty room"},
        {"nobody gets me"}, {"all by my lonesome"}),
      M("playful", 0.85, 0.65, {"playful", "cheerful"}, {"fun", "bouncy"}, {"silly and goofy"},
        {"tongue in cheek"}),
      M("dark", 0.15, 0.6, {"dark", "brooding"}, {"edgy", "sinister"}, {"creepy and intense"},
        {"shadowy menace"}),
      M("peaceful", 0.7, 0.1, {"peaceful", "serene"}, {"zen", "soothing"}, {"quiet my mind"},
        {"still as a pond"}),
      M("euphoric", 0.95, 0.9, {"euphoric", "ecstatic"}, {"hands in the air", "pure bliss"},
        {"over the moon"}, {"walking on air"}),
  };
  return v;
}

const std::vector<Concept>& Situations() {
  static const std::vector<Concept> v = {
      S("falling_asleep", 0.1, 0.55, {"calm", "peaceful", "dreamy"},
        {"ambient", "classical", "lofi"}, {"sleep", "bedtime"}, {"sleepy time", "cant sleep"},
        {"help me drift off", "for when my eyes get heavy"},
        {"lull me into dreamland", "knock me out gently at 2am"}),
      S("workout", 0.92, 0.7, {"energetic", "confident", "angry"},
        {"edm", "hip_hop", "metal", "rock"}, {"workout", "training"}, {"gym beast mode", "leg day"},
        {"pumping iron", "crushing my reps"},
        {"lifting heavy tonight", "sweat session at the weights"}),
      S("studying", 0.2, 0.55, {"calm", "peaceful", "dreamy"},
        {"lofi", "classical", "ambient", "jazz"}, {"study", "concentration"},
        {"study session", "exam season"}, {"cramming for finals", "hitting the books"},
        {"pulling an all nighter with textbooks", "revising for my test"}),
      S("commute", 0.55, 0.65, {"happy", "hopeful", "confident"}, {"pop", "indie", "hip_hop"},
        {"commuting", "the daily commute"}, {"train ride", "bus playlist"},
        {"stuck on the subway", "on my way to the office"},
        {"crammed in rush hour", "the long ride into work"}),
      S("seaside_walk", 0.35, 0.7, {"peaceful", "dreamy", "romantic"}, {"folk", "indie", "reggae"},
        {"the seaside", "the coast"}, {"ocean breeze", "by the sea"},
        {"strolling along the shore", "walking on the beach boardwalk"},
        {"waves lapping at my feet", "salty air wander"}),
      S("rainy_day", 0.25, 0.35, {"melancholic", "nostalgic", "calm"},
        {"jazz", "indie", "folk", "lofi"}, {"rain", "rainy weather"},
        {"rainy day", "rain on the window"}, {"drizzly grey afternoon", "its pouring outside"},
        {"raindrops tapping the glass", "wet and gloomy outside"}),
      S("road_trip", 0.7, 0.8, {"happy", "euphoric", "hopeful"}, {"rock", "pop", "country"},
        {"road trip", "travel"}, {"highway songs", "windows down"},
        {"long drive with friends", "hitting the open road"},
        {"miles of interstate ahead", "cruising cross country"}),
      S("party", 0.92, 0.85, {"euphoric", "playful", "energetic"},
        {"edm", "pop", "latin", "hip_hop", "kpop"}, {"party", "dance floor"},
        {"party starters", "turn up"}, {"getting the crowd moving", "friday night bash"},
        {"throwing a house party", "keep the dancefloor packed"}),
      S("breakup", 0.3, 0.15, {"sad", "lonely", "melancholic", "angry"},
        {"rnb", "pop", "indie", "soul"}, {"heartbreak", "a breakup"}, {"broken heart", "moving on"},
        {"just got dumped", "my ex left me"}, {"she broke up with me", "he ghosted me for good"}),
      S("promotion", 0.8, 0.9, {"confident", "euphoric", "happy"}, {"hip_hop", "pop", "edm"},
        {"success", "achievement"}, {"winning", "level up"},
        {"just got promoted", "nailed the big job interview"},
        {"my boss finally noticed me", "got the raise today"}),
      S("wedding", 0.5, 0.85, {"romantic", "happy", "hopeful"}, {"soul", "pop", "rnb", "classical"},
        {"wedding", "marriage"}, {"first dance", "wedding playlist"},
        {"walking down the aisle", "tying the knot"},
        {"saying i do", "our big day with the bridesmaids"}),
      S("cooking", 0.5, 0.75, {"playful", "happy", "calm"}, {"jazz", "latin", "soul"},
        {"cooking", "the kitchen"}, {"kitchen jams", "dinner prep"},
        {"making pasta from scratch", "chopping veggies"},
        {"stirring a pot of soup", "baking bread at home"}),
      S("gaming", 0.82, 0.5, {"energetic", "dark", "confident"}, {"electronic", "metal", "edm"},
        {"gaming", "video games"}, {"gamer mode", "ranked grind"},
        {"boss fight", "grinding levels all night"},
        {"clutching the final round", "speedrunning with the squad"}),
      S("morning_coffee", 0.35, 0.7, {"calm", "hopeful", "happy"}, {"jazz", "folk", "indie"},
        {"morning", "breakfast"}, {"coffee time", "sunday brunch"},
        {"first cup of the day", "slow start to my day"},
        {"sipping espresso at dawn", "waking up with a latte"}),
      S("late_night_drive", 0.5, 0.4, {"dreamy", "dark", "nostalgic"},
        {"electronic", "rnb", "indie"}, {"night driving", "the night"},
        {"late night drive", "midnight cruise"},
        {"driving through the city at 3am", "empty streets after midnight"},
        {"neon lights on the freeway", "alone at the wheel past midnight"}),
      S("meditation", 0.05, 0.6, {"peaceful", "calm"}, {"ambient", "classical"},
        {"meditation", "mindfulness"}, {"om", "breathwork"},
        {"clearing my head", "sitting cross legged"},
        {"focusing on my breathing", "emptying my thoughts"}),
      S("cleaning", 0.75, 0.8, {"playful", "happy", "energetic"}, {"pop", "latin", "kpop"},
        {"housework", "chores"}, {"cleaning day", "tidy up"},
        {"scrubbing the bathroom", "vacuuming the flat"},
        {"doing the dishes and laundry", "spring cleaning the apartment"}),
      S("running", 0.88, 0.7, {"energetic", "confident"}, {"edm", "pop", "hip_hop"},
        {"running", "jogging"}, {"run club", "cardio"},
        {"training for a marathon", "going for a 5k"},
        {"chasing a new personal best", "sprint intervals in the park"}),
      S("reading", 0.15, 0.6, {"calm", "peaceful"}, {"classical", "jazz", "ambient"},
        {"reading", "literature"}, {"book club", "cozy reading nook"},
        {"curled up with a novel", "getting lost in a book"},
        {"turning pages by the fireplace", "finishing my paperback"}),
      S("date_night", 0.4, 0.8, {"romantic", "dreamy"}, {"rnb", "soul", "jazz"},
        {"romance", "a date"}, {"date night", "candlelight"},
        {"dinner with my crush", "wine and candles"},
        {"cuddling on the couch with bae", "anniversary dinner for two"}),
      S("focus_work", 0.3, 0.6, {"calm", "confident"},
        {"lofi", "electronic", "ambient", "classical"}, {"work", "productivity"},
        {"deep work", "office hours"}, {"coding all afternoon", "powering through my inbox"},
        {"writing a report on deadline", "spreadsheets till five"}),
      S("celebration", 0.85, 0.95, {"euphoric", "happy"}, {"pop", "latin", "edm"},
        {"celebration", "festivity"}, {"cheers", "lets celebrate"},
        {"popping champagne", "birthday bash"},
        {"toasting with the whole family", "we won the championship"}),
      S("hiking", 0.55, 0.75, {"hopeful", "peaceful", "happy"}, {"folk", "country", "indie"},
        {"hiking", "the mountains"}, {"trail mix", "summit"},
        {"trekking up a hill", "walking through the woods"},
        {"backpacking on a forest trail", "climbing to the peak"}),
      S("beach_day", 0.65, 0.85, {"happy", "playful"}, {"reggae", "latin", "pop"},
        {"summer", "the beach"}, {"beach vibes", "sunscreen"},
        {"lying on the sand", "poolside afternoon"},
        {"building sandcastles", "tanning under a parasol"}),
      S("winter_evening", 0.25, 0.55, {"nostalgic", "calm", "romantic"},
        {"jazz", "folk", "classical"}, {"winter", "snow"}, {"cozy winter", "hot cocoa"},
        {"snowed in at home", "wrapped in a blanket"},
        {"frost on the windows", "fireplace crackling in december"}),
      S("karaoke", 0.7, 0.85, {"playful", "happy", "confident"}, {"pop", "kpop", "rock"},
        {"singing along", "sing-along"}, {"karaoke night", "duet"},
        {"belting it out with friends", "grabbing the mic"},
        {"screaming lyrics at the top of my lungs", "songs everyone knows the words to"}),
      S("yoga", 0.15, 0.65, {"peaceful", "calm"}, {"ambient"}, {"yoga", "stretching"},
        {"namaste", "flow class"}, {"downward dog", "holding a pose"},
        {"sun salutations", "mat session after work"}),
      S("lazy_sunday", 0.3, 0.75, {"calm", "happy"}, {"soul", "jazz", "indie"},
        {"weekend", "leisure"}, {"lazy day", "sunday chill"},
        {"doing nothing in pajamas", "lounging on the sofa"},
        {"sleeping in and staying in bed", "no plans at all today"}),
      S("missing_someone", 0.25, 0.25, {"lonely", "nostalgic", "sad"}, {"rnb", "indie", "folk"},
        {"longing", "distance"}, {"miss you", "long distance"},
        {"thinking about someone far away", "they moved across the world"},
        {"wish you were here tonight", "staring at old photos of us"}),
      S("graduation", 0.65, 0.8, {"hopeful", "nostalgic", "happy"}, {"pop", "rock"},
        {"graduation", "new beginnings"}, {"grad party", "senior year"},
        {"finishing school", "throwing my cap"}, {"leaving campus forever", "diploma in hand"}),
      S("stargazing", 0.15, 0.6, {"dreamy", "peaceful"}, {"ambient", "indie"},
        {"the stars", "the night sky"}, {"starry night", "look up"},
        {"watching the cosmos", "lying on the grass at night"},
        {"counting constellations", "meteor shower watching"}),
      S("chill_hangout", 0.45, 0.7, {"calm", "playful"}, {"rnb", "reggae", "lofi", "hip_hop"},
        {"hanging out", "friends"}, {"hangout", "kick back"},
        {"chilling with the homies", "friends coming over"},
        {"lounging with my crew", "backyard chill with buddies"}),
      S("venting", 0.9, 0.1, {"angry", "dark"}, {"metal", "punk", "rock"}, {"anger", "frustration"},
        {"rage mode", "let it out"}, {"want to smash something", "so done with everyone"},
        {"need to scream into a pillow", "blowing off steam after a fight"}),
      S("sunset", 0.35, 0.6, {"romantic", "nostalgic", "peaceful"}, {"indie", "soul"},
        {"dusk", "the evening"}, {"golden hour", "sunset"},
        {"watching the sky turn orange", "sun going down"},
        {"twilight on the rooftop", "last light of the day"}),
  };
  return v;
}

const std::vector<Language>& Languages() {
  static const std::vector<Language> v = {
      {"en", "English", 0.55}, {"zh", "Chinese", 0.15},  {"es", "Spanish", 0.1},
      {"ko", "Korean", 0.08},  {"ja", "Japanese", 0.07}, {"fr", "French", 0.05},
  };
  return v;
}

const std::vector<Era>& Eras() {
  static const std::vector<Era> v = {
      {1960, {"1960s"}, {"the sixties", "60s"}},
      {1970, {"1970s"}, {"the seventies", "70s"}},
      {1980, {"1980s"}, {"the eighties", "80s"}},
      {1990, {"1990s"}, {"the nineties", "90s"}},
      {2000, {"2000s"}, {"the noughties", "y2k era"}},
      {2010, {"2010s"}, {"the twenty tens", "10s"}},
      {2020, {"2020s"}, {"the last few years", "recent"}},
  };
  return v;
}

int FindConcept(const std::vector<Concept>& list, const std::string& id) {
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i].id == id) return static_cast<int>(i);
  return -1;
}

const ConceptSet& SyntheticConcepts() {
  static const ConceptSet set = [] {
    ConceptSet c;
    c.catalog = "synthetic";
    c.genres = Genres(), c.moods = Moods(), c.situations = Situations();
    c.languages = Languages(), c.eras = Eras();
    c.context_situations = {
        {"cooking", "reading", "lazy_sunday", "cleaning", "winter_evening", "date_night",
         "falling_asleep", "gaming", "meditation", "yoga", "rainy_day", "breakup",
         "missing_someone"},
        {"commute", "morning_coffee", "rainy_day"},
        {"workout", "running", "venting"},
        {"focus_work", "morning_coffee", "promotion"},
        {"studying", "focus_work", "reading"},
        {"hiking", "seaside_walk", "beach_day", "stargazing", "sunset", "running"},
        {"party", "celebration", "chill_hangout", "karaoke", "wedding", "graduation"},
        {"road_trip", "late_night_drive"}};
    return c;
  }();
  return set;
}

const ConceptSet& ConceptsOfCatalog(const std::string& catalog) {
  if (catalog == "synthetic") return SyntheticConcepts();
  if (catalog == "jamendo") return JamendoConcepts();
  throw Error("unknown catalog '" + catalog + "'", "", "use synthetic or jamendo");
}

}  // namespace muchator::world
