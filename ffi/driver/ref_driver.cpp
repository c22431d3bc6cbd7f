// crossval reference driver: a child process that runs a C++ reference built from source (ik_llama.cpp, or a
// user's checkout) and speaks the reference protocol (ffi/PROTOCOL.md, version 1.1) on stdin/stdout.
//
// It is compiled against the reference's own `llama.h` (never a copy of it), linked statically with the libraries
// that ffi/references/ built, so the ABI is the compiler's business (`abi_check=compiled`). The reference is the
// software under suspicion: everything it returns is checked, every failure it reports becomes an error reply, and
// what it cannot report (an abort, a crash) ends this process, which the supervisor observes (PROTOCOL.md section 6).
//
// Identity (library, commit, build flags) comes from -D definitions written by the build (ffi/references/
// driver_build.ts): the library itself does not know its commit.
//
// Two ops beyond PROTOCOL.md 1.1, listed in `ops` as the protocol allows (section 7):
//   dequantize: one tensor of a GGUF file converted to f32 with the library's own `to_float` (the independent
//               side of a transcode's losslessness proof);
//   quantize:   `llama_model_quantize` (what `llama-quantize --allow-requantize` does), so no tool has to be built.

#include "ggml.h"
#include "llama.h"

#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#ifndef CROSSVAL_REF_LIBRARY
#define CROSSVAL_REF_LIBRARY "custom"
#endif
#ifndef CROSSVAL_REF_SOURCE
#define CROSSVAL_REF_SOURCE "checkout"
#endif
#ifndef CROSSVAL_REF_RELEASE
#define CROSSVAL_REF_RELEASE "custom"
#endif
#ifndef CROSSVAL_REF_VERSION
#define CROSSVAL_REF_VERSION ""
#endif
#ifndef CROSSVAL_REF_COMMIT
#define CROSSVAL_REF_COMMIT ""
#endif
#ifndef CROSSVAL_REF_BUILD_FLAGS
#define CROSSVAL_REF_BUILD_FLAGS ""
#endif

static const int PROTOCOL_MAJOR = 1;
static const int PROTOCOL_MINOR = 1;
static const char * DRIVER_VERSION = "1.1.0";
static const uint32_t MAX_HEADER = 1u << 20;
static const char * OPS =
    "hello,load,tokenize,detokenize,pieces,is_eog,meta,info,eval,reset,greedy,capture,unload,close,dequantize,quantize";

// ---------------------------------------------------------------------------------------------------------------
// Channel: frames on a private copy of the original stdout; fd 1 is pointed at stderr so native prints cannot
// corrupt the channel (PROTOCOL.md section 2).

static int g_out = -1;

[[noreturn]] static void protocol_violation(const std::string & what) {
    fprintf(stderr, "crossval-ref-driver: protocol violation by the supervisor: %s\n", what.c_str());
    fflush(stderr);
    _exit(3);
}

// Returns false on a clean EOF before the first byte; dies (status 3) on a partial read.
static bool read_exact(void * dst, size_t n, bool eof_ok) {
    auto * p = static_cast<uint8_t *>(dst);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(0, p + got, n - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            protocol_violation(std::string("read from stdin failed: ") + strerror(errno));
        }
        if (r == 0) {
            if (got == 0 && eof_ok) return false;
            protocol_violation("truncated frame: stdin ended after " + std::to_string(got) + " of " +
                               std::to_string(n) + " bytes");
        }
        got += (size_t) r;
    }
    return true;
}

static void write_all(const void * src, size_t n) {
    const auto * p = static_cast<const uint8_t *>(src);
    while (n > 0) {
        ssize_t w = write(g_out, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            // The supervisor is gone: nobody to answer.
            _exit(0);
        }
        p += w;
        n -= (size_t) w;
    }
}

static void put_u32(std::string & s, uint32_t v) {
    for (int i = 0; i < 4; i++) s.push_back((char) ((v >> (8 * i)) & 0xff));
}

static uint32_t get_u32(const uint8_t * p) {
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static std::string escape(const std::string & v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '%': out += "%25"; break;
            case '\n': out += "%0A"; break;
            case '\r': out += "%0D"; break;
            case '\0': out += "%00"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// An error that becomes an error reply (PROTOCOL.md section 3).
struct ReplyError {
    std::string code;
    std::string message;
    std::vector<std::pair<std::string, std::string>> extra;
};

[[noreturn]] static void fail(const std::string & code, const std::string & message,
                              std::vector<std::pair<std::string, std::string>> extra = {}) {
    throw ReplyError{ code, message, std::move(extra) };
}

struct Request {
    std::map<std::string, std::string> fields;
    std::vector<uint8_t>               payload;

    bool has(const std::string & k) const { return fields.count(k) != 0; }

    std::string str(const std::string & k, const std::string & def = "") const {
        auto it = fields.find(k);
        return it == fields.end() ? def : it->second;
    }

    std::string need_str(const std::string & k) const {
        if (!has(k)) fail("bad_request", "Missing field \"" + k + "\" in the request. Send it.", { { "field", k } });
        return fields.at(k);
    }

    int64_t num(const std::string & k, int64_t def, bool required = false) const {
        if (!has(k)) {
            if (required) fail("bad_request", "Missing field \"" + k + "\" in the request. Send it.", { { "field", k } });
            return def;
        }
        const std::string & v = fields.at(k);
        char *              end = nullptr;
        errno                   = 0;
        long long r             = strtoll(v.c_str(), &end, 10);
        if (v.empty() || errno != 0 || *end != '\0') {
            fail("bad_request", "Field \"" + k + "\" is not an integer: \"" + v + "\". Send a decimal integer.",
                 { { "field", k } });
        }
        return (int64_t) r;
    }

    bool flag(const std::string & k, bool def) const {
        if (!has(k)) return def;
        const std::string & v = fields.at(k);
        if (v == "0") return false;
        if (v == "1") return true;
        fail("bad_request", "Field \"" + k + "\" must be 0 or 1, got \"" + v + "\".", { { "field", k } });
    }

    std::string choice(const std::string & k, const std::string & def, const std::vector<std::string> & allowed) const {
        std::string v = str(k, def);
        if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
            std::string list;
            for (auto & a : allowed) list += (list.empty() ? "" : "|") + a;
            fail("bad_request", "Field \"" + k + "\" has unknown value \"" + v + "\"; expected " + list + ".",
                 { { "field", k } });
        }
        return v;
    }

    std::vector<int32_t> ids() const {
        if (payload.size() % 4 != 0) {
            fail("bad_request",
                 "The payload of " + std::to_string(payload.size()) + " bytes is not a whole number of i32 token ids.",
                 { { "field", "payload" } });
        }
        std::vector<int32_t> out(payload.size() / 4);
        for (size_t i = 0; i < out.size(); i++) out[i] = (int32_t) get_u32(&payload[4 * i]);
        return out;
    }
};

// Reads one frame; returns false on EOF between frames.
static bool read_request(Request & req) {
    uint8_t head[8];
    if (!read_exact(head, 4, true)) return false;
    read_exact(head + 4, 4, false);
    if (memcmp(head, "RFP1", 4) != 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "bad magic %02x %02x %02x %02x (expected RFP1)", head[0], head[1], head[2], head[3]);
        protocol_violation(buf);
    }
    uint32_t h = get_u32(head + 4);
    if (h > MAX_HEADER) protocol_violation("header of " + std::to_string(h) + " bytes exceeds 1 MiB");
    std::string header(h, '\0');
    if (h) read_exact(&header[0], h, false);
    uint8_t plen[4];
    read_exact(plen, 4, false);
    uint32_t p = get_u32(plen);
    req.fields.clear();
    req.payload.assign(p, 0);
    if (p) read_exact(req.payload.data(), p, false);

    size_t at = 0;
    while (at < header.size()) {
        size_t nl = header.find('\n', at);
        if (nl == std::string::npos) protocol_violation("header line without a terminating LF");
        std::string line = header.substr(at, nl - at);
        at               = nl + 1;
        size_t eq        = line.find('=');
        if (eq == std::string::npos || eq == 0) protocol_violation("header line without key=value: \"" + line + "\"");
        std::string key = line.substr(0, eq);
        for (char c : key) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
            if (!ok) protocol_violation("header key \"" + key + "\" is not [a-z0-9_.]+");
        }
        std::string raw = line.substr(eq + 1), val;
        for (size_t i = 0; i < raw.size(); i++) {
            if (raw[i] == '%') {
                int a = i + 2 < raw.size() ? hexval(raw[i + 1]) : -1;
                int b = i + 2 < raw.size() ? hexval(raw[i + 2]) : -1;
                if (a < 0 || b < 0) protocol_violation("bad %-escape in the value of " + key);
                val.push_back((char) (a * 16 + b));
                i += 2;
            } else {
                val.push_back(raw[i]);
            }
        }
        if (req.fields.count(key)) protocol_violation("key \"" + key + "\" appears twice in one header");
        req.fields[key] = val;
    }
    return true;
}

struct Reply {
    std::string          header;
    std::vector<uint8_t> payload;

    void set(const std::string & k, const std::string & v) { header += k + "=" + escape(v) + "\n"; }

    void set(const std::string & k, int64_t v) { header += k + "=" + std::to_string(v) + "\n"; }

    void set_bool(const std::string & k, bool v) { header += k + "=" + (v ? "1" : "0") + "\n"; }

    void set_float(const std::string & k, double v) {
        char buf[64];
        if (std::isnan(v)) snprintf(buf, sizeof buf, "nan");
        else if (std::isinf(v)) snprintf(buf, sizeof buf, v > 0 ? "inf" : "-inf");
        else snprintf(buf, sizeof buf, "%.17g", v);
        header += k + "=" + buf + "\n";
    }

    void append(const void * data, size_t n) {
        const auto * p = static_cast<const uint8_t *>(data);
        payload.insert(payload.end(), p, p + n);
    }
};

static void send_frame(const std::string & header, const std::vector<uint8_t> & payload) {
    std::string head = "RFP1";
    put_u32(head, (uint32_t) header.size());
    head += header;
    put_u32(head, (uint32_t) payload.size());
    write_all(head.data(), head.size());
    if (!payload.empty()) write_all(payload.data(), payload.size());
}

// ---------------------------------------------------------------------------------------------------------------
// Log: llama.cpp's lines go to stderr (filtered by hello's level) and the recent ones are kept for messages.

static int                     g_log_level = GGML_LOG_LEVEL_WARN;
static std::deque<std::string> g_log_tail;      // the last lines, the oldest first
static uint64_t                g_log_lines = 0; // lines ever logged: g_log_tail.back() is line g_log_lines - 1
static std::string             g_log_partial;
static int                     g_last_level = GGML_LOG_LEVEL_INFO;

static void on_log(enum ggml_log_level level, const char * text, void *) {
    int lv = level == GGML_LOG_LEVEL_CONT ? g_last_level : (int) level;
    g_last_level = lv;
    if (g_log_level != GGML_LOG_LEVEL_NONE && lv >= g_log_level) fputs(text, stderr);
    g_log_partial += text ? text : "";
    size_t nl;
    while ((nl = g_log_partial.find('\n')) != std::string::npos) {
        g_log_tail.push_back(g_log_partial.substr(0, nl));
        g_log_partial.erase(0, nl + 1);
        g_log_lines++;
        if (g_log_tail.size() > 400) g_log_tail.pop_front();
    }
}

// A position in the log: lines logged after it are "since" it.
static uint64_t log_mark() {
    return g_log_lines;
}

// The last `max_lines` lines logged since `mark` (and a pending partial line), indented, for error messages.
static std::string log_since(uint64_t mark, size_t max_lines = 12) {
    uint64_t first_kept = g_log_lines - g_log_tail.size();
    uint64_t from       = std::max(mark, first_kept);
    if (g_log_lines - from > max_lines) from = g_log_lines - max_lines;
    std::string out;
    for (uint64_t i = from; i < g_log_lines; i++) out += "  " + g_log_tail[(size_t) (i - first_kept)] + "\n";
    if (!g_log_partial.empty()) out += "  " + g_log_partial + "\n";
    return out.empty() ? "  (nothing)\n" : out;
}

// ---------------------------------------------------------------------------------------------------------------
// Models.

struct Capture {
    bool                                armed = false;
    regex_t                             re{};
    bool                                re_ok = false;
    std::vector<std::string>            order;  // names in order of first computation
    std::map<std::string, std::string>  type;
    std::map<std::string, std::vector<int64_t>> shape;
    std::map<std::string, std::vector<float>>   data;
    std::map<std::string, std::string>  skipped;

    void clear() {
        order.clear();
        type.clear();
        shape.clear();
        data.clear();
        skipped.clear();
    }

    ~Capture() {
        if (re_ok) regfree(&re);
    }
};

struct Model {
    int                      handle     = 0;
    std::string              path;
    llama_model *            model      = nullptr;
    llama_context *          ctx        = nullptr;
    const llama_vocab *      vocab      = nullptr;
    bool                     vocab_only = false;
    bool                     parity     = false;
    bool                     capture_on = false;
    int32_t                  n_vocab    = 0;
    int32_t                  n_past     = 0;
    double                   load_ms    = 0;
    ggml_type                type_k     = GGML_TYPE_F16;
    ggml_type                type_v     = GGML_TYPE_F16;
    bool                     flash_attn = true;
    std::string              arch, name, description;
    int64_t                  n_head = 0, n_head_kv = 0, n_ctx_train = 0, n_embd = 0, n_layer = 0;
    std::unique_ptr<Capture> cap;

    ~Model() {
        if (ctx) llama_free(ctx);
        if (model) llama_free_model(model);
    }
};

static std::map<int, std::unique_ptr<Model>> g_models;
static int                                   g_next_handle = 1;
static bool                                  g_hello       = false;

static Model & model_of(const Request & req, const char * op) {
    int64_t h  = req.num("model", 0, true);
    auto    it = g_models.find((int) h);
    if (it == g_models.end()) {
        fail("bad_handle", std::string("Cannot ") + op + ": no model " + std::to_string(h) +
                               " is loaded (never loaded, or unloaded). Load it first with op=load.");
    }
    return *it->second;
}

static Model & need_ctx(const Request & req, const char * op) {
    Model & m = model_of(req, op);
    if (!m.ctx) {
        fail("state", std::string("Cannot ") + op + ": \"" + m.path +
                          "\" was loaded with vocab_only=1 and has no weights. Load it without vocab_only to evaluate.");
    }
    return m;
}

static std::string meta_str(const llama_model * model, const std::string & key, bool * found = nullptr) {
    std::vector<char> buf(256);
    int32_t           n = llama_model_meta_val_str(model, key.c_str(), buf.data(), buf.size());
    if (n < 0) {
        if (found) *found = false;
        return "";
    }
    if ((size_t) n >= buf.size()) {
        buf.resize((size_t) n + 1);
        n = llama_model_meta_val_str(model, key.c_str(), buf.data(), buf.size());
    }
    if (found) *found = true;
    return std::string(buf.data(), (size_t) std::max(0, std::min<int32_t>(n, (int32_t) buf.size() - 1)));
}

static int64_t meta_int(const llama_model * model, const std::string & key) {
    bool        found = false;
    std::string v     = meta_str(model, key, &found);
    return found ? strtoll(v.c_str(), nullptr, 10) : 0;
}

static void check_ids(const Model & m, const std::vector<int32_t> & ids, const char * op) {
    for (size_t i = 0; i < ids.size(); i++) {
        if (ids[i] < 0 || ids[i] >= m.n_vocab) {
            fail("range", std::string("Cannot ") + op + ": token id " + std::to_string(ids[i]) + " at index " +
                              std::to_string(i) + " is outside the vocabulary (0.." + std::to_string(m.n_vocab - 1) +
                              "). Tokenize with this model's vocabulary.");
        }
    }
}

static void info_fields(const Model & m, Reply & r) {
    r.set("model", (int64_t) m.handle);
    r.set("arch", m.arch);
    if (!m.name.empty()) r.set("name", m.name);
    r.set("description", m.description);
    r.set("n_vocab", (int64_t) m.n_vocab);
    r.set("n_ctx_train", m.n_ctx_train);
    r.set("n_embd", m.vocab_only ? 0 : m.n_embd);
    r.set("n_layer", m.vocab_only ? 0 : m.n_layer);
    r.set("n_head", m.vocab_only ? 0 : m.n_head);
    r.set("n_head_kv", m.vocab_only ? 0 : m.n_head_kv);
    r.set("n_params", m.vocab_only ? 0 : (int64_t) llama_model_n_params(m.model));
    r.set("size_bytes", m.vocab_only ? 0 : (int64_t) llama_model_size(m.model));
    r.set("bos", (int64_t) llama_vocab_bos(m.vocab));
    r.set("eos", (int64_t) llama_vocab_eos(m.vocab));
    r.set("eot", (int64_t) llama_token_eot(m.model));
    r.set_bool("add_bos", llama_vocab_get_add_bos(m.vocab));
    r.set_bool("add_eos", llama_vocab_get_add_eos(m.vocab));
    r.set_bool("vocab_only", m.vocab_only);
    r.set_bool("parity", m.parity);
    r.set_bool("capture", m.capture_on);
    r.set("n_ctx", m.ctx ? (int64_t) llama_n_ctx(m.ctx) : 0);
    r.set("n_batch", m.ctx ? (int64_t) llama_n_batch(m.ctx) : 0);
    r.set("n_ubatch", m.ctx ? (int64_t) llama_n_ubatch(m.ctx) : 0);
    r.set("threads", m.ctx ? (int64_t) llama_n_threads(m.ctx) : 0);
    r.set("threads_batch", m.ctx ? (int64_t) llama_n_threads_batch(m.ctx) : 0);
    auto tname = [](ggml_type t) { return t == GGML_TYPE_F32 ? "f32" : t == GGML_TYPE_BF16 ? "bf16" : "f16"; };
    r.set("type_k", tname(m.type_k));
    r.set("type_v", tname(m.type_v));
    // ik_llama.cpp's flash_attn is a plain bool whose default is true: the default there means enabled.
    r.set("flash_attn", m.flash_attn ? "auto" : "disabled");
    if (m.ctx) r.set("flash_attn_resolved", m.flash_attn ? "enabled" : "disabled");
    r.set_float("load_ms", m.load_ms);
}

// ---------------------------------------------------------------------------------------------------------------
// Graph callback (ggml_backend_sched_eval_callback): asked once per node (`ask`), then called with the computed
// node for those it wanted. The scheduler runs it on the thread that called llama_decode.

static int on_eval(struct ggml_tensor * t, bool ask, void * ud) {
    auto * cap = static_cast<Capture *>(ud);
    if (!cap || !cap->armed || !t) return ask ? 0 : 1;
    const char * nm = ggml_get_name(t);
    if (!nm) return ask ? 0 : 1;
    if (ask) return regexec(&cap->re, nm, 0, nullptr, 0) == 0 ? 1 : 0;
    std::string name(nm);
    if (std::find(cap->order.begin(), cap->order.end(), name) == cap->order.end()) cap->order.push_back(name);
    // A later node with the same name supersedes an earlier one (the value the next operation consumes).
    cap->data.erase(name);
    cap->skipped.erase(name);
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16) {
        cap->skipped[name] = std::string("type ") + ggml_type_name(t->type) + " is not a float type";
        return 1;
    }
    if (!ggml_is_contiguous(t)) {
        cap->skipped[name] = "tensor is not contiguous";
        return 1;
    }
    int64_t n = ggml_nelements(t);
    std::vector<float> out((size_t) n);
    if (t->type == GGML_TYPE_F32) {
        ggml_backend_tensor_get(t, out.data(), 0, ggml_nbytes(t));
    } else {
        std::vector<uint16_t> raw((size_t) n);
        ggml_backend_tensor_get(t, raw.data(), 0, ggml_nbytes(t));
        if (t->type == GGML_TYPE_F16) ggml_fp16_to_fp32_row((const ggml_fp16_t *) raw.data(), out.data(), n);
        else ggml_bf16_to_fp32_row((const ggml_bf16_t *) raw.data(), out.data(), n);
    }
    std::vector<int64_t> shape(t->ne, t->ne + GGML_MAX_DIMS);
    while (shape.size() > 1 && shape.back() == 1) shape.pop_back();
    cap->type[name]  = ggml_type_name(t->type);
    cap->shape[name] = shape;
    cap->data[name]  = std::move(out);
    return 1;
}

// ---------------------------------------------------------------------------------------------------------------
// Ops.

static void op_hello(const Request & req, Reply & r) {
    int64_t proto = req.num("protocol", 0, true);
    if (proto != PROTOCOL_MAJOR) {
        fail("unsupported_protocol",
             "Cannot speak protocol " + std::to_string(proto) + ": this driver speaks " +
                 std::to_string(PROTOCOL_MAJOR) + "." + std::to_string(PROTOCOL_MINOR) +
                 ". Rebuild the driver with the tool's version (crossval reference build).",
             { { "protocol", std::to_string(PROTOCOL_MAJOR) } });
    }
    std::string lv = req.choice("log", "warn", { "none", "error", "warn", "info", "debug" });
    g_log_level    = lv == "none"  ? GGML_LOG_LEVEL_NONE :
                     lv == "error" ? GGML_LOG_LEVEL_ERROR :
                     lv == "warn"  ? GGML_LOG_LEVEL_WARN :
                     lv == "info"  ? GGML_LOG_LEVEL_INFO :
                                     GGML_LOG_LEVEL_DEBUG;
    if (!g_hello) {
        llama_log_set(on_log, nullptr);
        llama_backend_init();
    }
    g_hello = true;
    char exe[4096] = { 0 };
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    std::string dir = n > 0 ? std::string(exe, (size_t) n) : "";
    if (dir.rfind('/') != std::string::npos) dir = dir.substr(0, dir.rfind('/'));
    r.set("protocol", (int64_t) PROTOCOL_MAJOR);
    r.set("protocol_minor", (int64_t) PROTOCOL_MINOR);
    r.set("ops", OPS);
    r.set("driver", "c");
    r.set("driver_version", DRIVER_VERSION);
    r.set("pid", (int64_t) getpid());
    r.set("library", CROSSVAL_REF_LIBRARY);
    r.set("source", CROSSVAL_REF_SOURCE);
    r.set("dir", dir);
    r.set("release", CROSSVAL_REF_RELEASE);
    r.set("version", CROSSVAL_REF_VERSION);
    r.set("commit", CROSSVAL_REF_COMMIT);
    r.set("ggml_version", "");
    r.set("ggml_commit", CROSSVAL_REF_COMMIT);
    r.set("build_flags", CROSSVAL_REF_BUILD_FLAGS);
    r.set("backend", "CPU");
    r.set("cpu_variant", "");
    r.set("system_info", llama_print_system_info());
    r.set("abi_check", "compiled");
}

static void op_load(const Request & req, Reply & r) {
    std::string path = req.need_str("path");
    struct stat st{};
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        fail("not_found", "Cannot load model \"" + path + "\": " + (errno ? strerror(errno) : "not a regular file") +
                              ". Check the path, or provision the model with: crossval fetch");
    }
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) fail("not_found", "Cannot load model \"" + path + "\": " + strerror(errno) + ". Check its permissions.");
    close(fd);
    auto m         = std::make_unique<Model>();
    m->path        = path;
    m->vocab_only  = req.flag("vocab_only", false);
    m->parity      = req.flag("parity", false);
    m->capture_on  = !m->vocab_only && req.flag("capture", false);
    int64_t n_ctx  = req.num("n_ctx", 0);
    int64_t n_bat  = req.num("n_batch", 0);
    int64_t thr    = req.num("threads", 0);
    if (n_ctx < 0 || n_bat < 0 || thr < 0 || n_ctx > (1 << 24) || n_bat > (1 << 24) || thr > 4096) {
        fail("bad_request", "Cannot load \"" + path + "\": n_ctx, n_batch and threads must be in 0..2^24 (0 = default).");
    }

    auto   t0   = std::chrono::steady_clock::now();
    uint64_t mark = log_mark();
    auto   mp   = llama_model_default_params();
    mp.vocab_only = m->vocab_only;
    m->model      = llama_model_load_from_file(path.c_str(), mp);
    if (!m->model) {
        fail("invalid_model", "Cannot load model \"" + path + "\": the reference rejected it. It said:\n" +
                                  log_since(mark) + "Check the file with: crossval inspect " + path);
    }
    m->vocab       = llama_model_get_vocab(m->model);
    m->n_vocab     = llama_vocab_n_tokens(m->vocab);
    m->arch        = meta_str(m->model, "general.architecture");
    m->name        = meta_str(m->model, "general.name");
    m->n_ctx_train = llama_n_ctx_train(m->model);
    if (!m->vocab_only) {
        m->n_embd    = llama_model_n_embd(m->model);
        m->n_layer   = llama_n_layer(m->model);
        m->n_head    = meta_int(m->model, m->arch + ".attention.head_count");
        m->n_head_kv = meta_int(m->model, m->arch + ".attention.head_count_kv");
        if (m->n_head_kv == 0) m->n_head_kv = m->n_head;
    }
    char desc[256] = { 0 };
    int32_t dn = llama_model_desc(m->model, desc, sizeof desc);
    m->description = std::string(desc, (size_t) std::max(0, std::min<int32_t>(dn, (int32_t) sizeof desc - 1)));

    if (!m->vocab_only) {
        if (n_ctx == 0) n_ctx = m->n_ctx_train > 0 ? std::min<int64_t>(m->n_ctx_train, 4096) : 4096;
        if (n_bat == 0) n_bat = std::min<int64_t>(n_ctx, 512);
        if (thr == 0) thr = std::max(1u, std::thread::hardware_concurrency());
        auto cp            = llama_context_default_params();
        cp.n_ctx           = (uint32_t) n_ctx;
        cp.n_batch         = (uint32_t) n_bat;
        cp.n_ubatch        = (uint32_t) n_bat;
        cp.n_seq_max       = 1;
        cp.n_threads       = (uint32_t) thr;
        cp.n_threads_batch = (uint32_t) thr;
        if (m->parity) {
            cp.type_k     = GGML_TYPE_F32;
            cp.type_v     = GGML_TYPE_F32;
            cp.flash_attn = false;
        }
        // Optional overrides (additive request fields): cache types and flash attention, for experiments.
        auto cache_type = [&](const char * key, ggml_type def) {
            std::string v = req.choice(key, def == GGML_TYPE_F32 ? "f32" : def == GGML_TYPE_BF16 ? "bf16" : "f16",
                                       { "f32", "f16", "bf16" });
            return v == "f32" ? GGML_TYPE_F32 : v == "bf16" ? GGML_TYPE_BF16 : GGML_TYPE_F16;
        };
        cp.type_k     = cache_type("type_k", cp.type_k);
        cp.type_v     = cache_type("type_v", cp.type_v);
        cp.flash_attn = req.flag("flash_attn", cp.flash_attn);
        if (m->capture_on) {
            m->cap              = std::make_unique<Capture>();
            cp.cb_eval          = on_eval;
            cp.cb_eval_user_data = m->cap.get();
        }
        mark   = log_mark();
        m->ctx = llama_init_from_model(m->model, cp);
        if (!m->ctx && m->parity && !req.has("type_v") && cp.type_v == GGML_TYPE_F32 &&
            log_since(mark, 400).find("V cache quantization requires flash_attn") != std::string::npos) {
            // ik_llama.cpp (src/llama.cpp, llama_init_from_model) accepts only an F16 or BF16 V cache without flash
            // attention, and its CPU flash attention has no F32 cache: F16 V is the closest it computes. The reply's
            // type_v says so, and so does the log line below.
            fprintf(stderr, "crossval-ref-driver: this reference refuses an F32 V cache without flash attention; "
                            "parity mode uses an F16 V cache (F32 K cache, no flash attention)\n");
            cp.type_v = GGML_TYPE_F16;
            mark      = log_mark();
            m->ctx    = llama_init_from_model(m->model, cp);
        }
        m->type_k     = cp.type_k;
        m->type_v     = cp.type_v;
        m->flash_attn = cp.flash_attn;
        if (!m->ctx) {
            fail("context", "Cannot create a context for \"" + path + "\" (n_ctx " + std::to_string(n_ctx) +
                                ", n_batch " + std::to_string(n_bat) + ", threads " + std::to_string(thr) +
                                "). The reference said:\n" + log_since(mark) + "Lower n_ctx or n_batch.");
        }
    }
    m->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    m->handle  = g_next_handle++;
    info_fields(*m, r);
    g_models[m->handle] = std::move(m);
}

static void op_tokenize(const Request & req, Reply & r) {
    Model & m       = model_of(req, "tokenize");
    bool    special = req.flag("add_special", true);
    bool    parse   = req.flag("parse_special", false);
    if (req.payload.size() > (size_t) INT32_MAX / 2) fail("range", "Cannot tokenize: the text is over 1 GiB.");
    const char *         text = (const char *) req.payload.data();
    int32_t              len  = (int32_t) req.payload.size();
    std::vector<int32_t> ids((size_t) len + 8);
    int32_t n = llama_vocab_tokenize(m.vocab, text, len, ids.data(), (int32_t) ids.size(), special, parse);
    if (n < 0) {
        ids.resize((size_t) -n);
        n = llama_vocab_tokenize(m.vocab, text, len, ids.data(), (int32_t) ids.size(), special, parse);
    }
    if (n < 0) fail("internal", "Cannot tokenize: llama_vocab_tokenize returned " + std::to_string(n) + " twice.");
    r.set("n", (int64_t) n);
    r.append(ids.data(), (size_t) n * 4);
}

static void op_detokenize(const Request & req, Reply & r) {
    Model & m   = model_of(req, "detokenize");
    auto    ids = req.ids();
    check_ids(m, ids, "detokenize");
    bool              rm = req.flag("remove_special", false), un = req.flag("unparse_special", false);
    std::vector<char> buf(ids.size() * 16 + 64);
    int32_t n = llama_detokenize(m.vocab, ids.data(), (int32_t) ids.size(), buf.data(), (int32_t) buf.size(), rm, un);
    if (n < 0) {
        buf.resize((size_t) -n);
        n = llama_detokenize(m.vocab, ids.data(), (int32_t) ids.size(), buf.data(), (int32_t) buf.size(), rm, un);
    }
    if (n < 0) fail("internal", "Cannot detokenize: llama_detokenize returned " + std::to_string(n) + " twice.");
    r.append(buf.data(), (size_t) n);
}

static void op_pieces(const Request & req, Reply & r) {
    Model & m   = model_of(req, "pieces");
    auto    ids = req.ids();
    check_ids(m, ids, "render pieces");
    bool    special = req.flag("special", false);
    int64_t lstrip  = req.num("lstrip", 0);
    if (lstrip < 0 || lstrip > 1024) fail("bad_request", "Field lstrip must be in 0..1024.", { { "field", "lstrip" } });
    std::vector<char> buf(256);
    for (int32_t id : ids) {
        int32_t n = llama_token_to_piece_vocab(m.vocab, id, buf.data(), (int32_t) buf.size(), (int32_t) lstrip, special);
        if (n < 0) {
            buf.resize((size_t) -n);
            n = llama_token_to_piece_vocab(m.vocab, id, buf.data(), (int32_t) buf.size(), (int32_t) lstrip, special);
        }
        if (n < 0) n = 0;
        uint32_t len = (uint32_t) n;
        uint8_t  le[4] = { (uint8_t) len, (uint8_t) (len >> 8), (uint8_t) (len >> 16), (uint8_t) (len >> 24) };
        r.append(le, 4);
        r.append(buf.data(), len);
    }
    r.set("n", (int64_t) ids.size());
}

static void op_is_eog(const Request & req, Reply & r) {
    Model & m   = model_of(req, "check end-of-generation");
    auto    ids = req.ids();
    check_ids(m, ids, "check end-of-generation");
    for (int32_t id : ids) {
        uint8_t b = llama_vocab_is_eog(m.vocab, id) ? 1 : 0;
        r.append(&b, 1);
    }
}

static void op_meta(const Request & req, Reply & r) {
    Model & m = model_of(req, "read metadata");
    if (req.has("key")) {
        bool        found = false;
        std::string v     = meta_str(m.model, req.str("key"), &found);
        r.set_bool("found", found);
        if (found) r.set("value", v);
        return;
    }
    int32_t count = llama_model_meta_count(m.model);
    auto    read  = [](auto f) {
        std::vector<char> buf(256);
        int32_t           n = f(buf.data(), buf.size());
        if (n >= (int32_t) buf.size()) {
            buf.resize((size_t) n + 1);
            n = f(buf.data(), buf.size());
        }
        return n < 0 ? std::string() : std::string(buf.data(), (size_t) std::min<int32_t>(n, (int32_t) buf.size() - 1));
    };
    for (int32_t i = 0; i < count; i++) {
        std::string k = read([&](char * b, size_t n) { return llama_model_meta_key_by_index(m.model, i, b, n); });
        std::string v = read([&](char * b, size_t n) { return llama_model_meta_val_str_by_index(m.model, i, b, n); });
        for (const std::string * s : { &k, &v }) {
            uint32_t len   = (uint32_t) s->size();
            uint8_t  le[4] = { (uint8_t) len, (uint8_t) (len >> 8), (uint8_t) (len >> 16), (uint8_t) (len >> 24) };
            r.append(le, 4);
            r.append(s->data(), len);
        }
    }
    r.set("n", (int64_t) count);
}

// Decodes `ids` from position `pos0` in n_batch chunks; rows for every position (`all`) or the last one. Appends
// the logits to `out`. Fails with `decode` (resynchronising n_past from the KV cache).
static double decode_into(Model & m, const std::vector<int32_t> & ids, int32_t pos0, bool all,
                          std::vector<uint8_t> * out) {
    int32_t n_batch = (int32_t) llama_n_batch(m.ctx);
    auto    t0      = std::chrono::steady_clock::now();
    llama_batch b   = llama_batch_init(n_batch, 0, 1);
    struct Guard {
        llama_batch & b;
        ~Guard() { llama_batch_free(b); }
    } guard{ b };
    size_t row_bytes = (size_t) m.n_vocab * 4;
    for (size_t at = 0; at < ids.size(); at += (size_t) n_batch) {
        int32_t n = (int32_t) std::min<size_t>((size_t) n_batch, ids.size() - at);
        b.n_tokens = n;
        for (int32_t i = 0; i < n; i++) {
            b.token[i]     = ids[at + (size_t) i];
            b.pos[i]       = pos0 + (int32_t) at + i;
            b.n_seq_id[i]  = 1;
            b.seq_id[i][0] = 0;
            bool last      = at + (size_t) i + 1 == ids.size();
            b.logits[i]    = (all || last) ? 1 : 0;
        }
        uint64_t mark = log_mark();
        int32_t rc   = llama_decode(m.ctx, b);
        if (rc != 0) {
            m.n_past = llama_kv_cache_seq_pos_max(m.ctx, 0) + 1;
            if (m.n_past < 0) m.n_past = 0;
            fail("decode",
                 "llama_decode returned " + std::to_string(rc) + " at positions " + std::to_string(pos0 + (int32_t) at) +
                     ".." + std::to_string(pos0 + (int32_t) at + n - 1) + ". The reference said:\n" + log_since(mark) +
                     "The cache holds " + std::to_string(m.n_past) + " tokens; reset and retry with fewer tokens.",
                 { { "rc", std::to_string(rc) }, { "n_past", std::to_string(m.n_past) } });
        }
        m.n_past = pos0 + (int32_t) at + n;
        if (out) {
            for (int32_t i = 0; i < n; i++) {
                if (!b.logits[i]) continue;
                const float * row = llama_get_logits_ith(m.ctx, i);
                if (!row) fail("internal", "llama_get_logits_ith returned NULL for batch row " + std::to_string(i) + ".");
                const auto * p = reinterpret_cast<const uint8_t *>(row);
                out->insert(out->end(), p, p + row_bytes);
            }
        }
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

static void check_fits(const Model & m, size_t n_ids, int32_t pos0, size_t rows, const char * op) {
    if (n_ids == 0) fail("range", std::string("Cannot ") + op + ": the input is empty. Send at least one token id.");
    uint32_t n_ctx = llama_n_ctx(m.ctx);
    if ((uint64_t) pos0 + n_ids > n_ctx) {
        fail("range", std::string("Cannot ") + op + ": " + std::to_string(n_ids) + " tokens from position " +
                          std::to_string(pos0) + " exceed the context of " + std::to_string(n_ctx) +
                          ". Load with a larger n_ctx, or reset.");
    }
    if ((uint64_t) rows * (uint64_t) m.n_vocab * 4 > 0xffffffffull) {
        fail("too_large", std::string("Cannot ") + op + ": " + std::to_string(rows) + " rows of " +
                              std::to_string(m.n_vocab) + " logits exceed a 4 GiB payload. Ask in parts (mode=append).");
    }
}

static void op_eval(const Request & req, Reply & r) {
    Model &     m    = need_ctx(req, "evaluate");
    std::string mode = req.choice("mode", "reset", { "reset", "append" });
    std::string lg   = req.choice("logits", "last", { "all", "last", "none" });
    bool        all  = lg == "all";
    auto        ids  = req.ids();
    check_ids(m, ids, "evaluate");
    if (mode == "reset") {
        llama_kv_cache_clear(m.ctx);
        m.n_past = 0;
    }
    int32_t pos0 = m.n_past;
    size_t  rows = all ? ids.size() : lg == "last" ? 1 : 0;
    check_fits(m, ids.size(), pos0, rows, "evaluate");
    r.payload.reserve(std::max<size_t>(rows, 1) * (size_t) m.n_vocab * 4);
    // logits=none (1.1): the last position's logits are computed and copied out exactly as for `last`, then dropped,
    // so a benchmark times the same work without the pipe.
    double ms = decode_into(m, ids, pos0, all, &r.payload);
    if (rows == 0) r.payload.clear();
    r.set("rows", (int64_t) rows);
    r.set("n_vocab", (int64_t) m.n_vocab);
    r.set("pos0", (int64_t) pos0);
    r.set("n_past", (int64_t) m.n_past);
    r.set_float("decode_ms", ms);
}

static void op_reset(const Request & req, Reply & r) {
    Model & m = need_ctx(req, "reset");
    llama_kv_cache_clear(m.ctx);
    m.n_past = 0;
    r.set("n_past", (int64_t) 0);
}

// The largest value, the lowest id on ties, NaNs ignored (the tie rule parity relies on).
static int32_t argmax(const float * v, int32_t n) {
    int32_t best = -1;
    float   bv   = 0;
    for (int32_t i = 0; i < n; i++) {
        if (std::isnan(v[i])) continue;
        if (best < 0 || v[i] > bv) {
            best = i;
            bv   = v[i];
        }
    }
    return best < 0 ? 0 : best;
}

static void op_greedy(const Request & req, Reply & r) {
    Model & m     = need_ctx(req, "generate");
    int64_t n     = req.num("n", 0, true);
    bool    stop  = req.flag("stop_at_eog", true);
    auto    ids   = req.ids();
    if (n < 0) fail("bad_request", "Field n must be >= 0.", { { "field", "n" } });
    check_ids(m, ids, "generate");
    if (ids.empty()) fail("range", "Cannot generate: the prompt is empty. Send at least one token id.");
    if ((uint64_t) ids.size() + (uint64_t) n > (uint64_t) llama_n_ctx(m.ctx) + 1) {
        fail("range", "Cannot generate: the prompt (" + std::to_string(ids.size()) + ") plus " + std::to_string(n) +
                          " tokens exceed the context of " + std::to_string(llama_n_ctx(m.ctx)) +
                          " + 1. Load with a larger n_ctx.");
    }
    bool want_logits = req.flag("logits", false);
    if (want_logits && (uint64_t) n * (uint64_t) m.n_vocab * 4 + (uint64_t) n * 4 > 0xffffffffull) {
        fail("too_large", "Cannot generate with logits=1: " + std::to_string(n) + " rows of " +
                              std::to_string(m.n_vocab) + " logits exceed a 4 GiB payload. Generate fewer tokens.");
    }
    llama_kv_cache_clear(m.ctx);
    m.n_past = 0;
    std::vector<uint8_t> logits, trajectory;
    double               prompt_ms = decode_into(m, ids, 0, false, &logits);
    std::vector<int32_t> out;
    bool                 eog     = false;
    int64_t              decodes = 0;
    auto                 t0      = std::chrono::steady_clock::now();
    while ((int64_t) out.size() < n) {
        int32_t next = argmax(reinterpret_cast<const float *>(logits.data()), m.n_vocab);
        if (want_logits) trajectory.insert(trajectory.end(), logits.begin(), logits.end());
        out.push_back(next);
        if (stop && llama_vocab_is_eog(m.vocab, next)) {
            eog = true;
            break;
        }
        if ((int64_t) out.size() == n) break;
        logits.clear();
        decode_into(m, { next }, m.n_past, false, &logits);
        decodes++;
    }
    double gen_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.set("n", (int64_t) out.size());
    r.set_bool("stopped_at_eog", eog);
    r.set("prompt_tokens", (int64_t) ids.size());
    r.set_float("prompt_ms", prompt_ms);
    r.set("gen_decodes", decodes);
    r.set_float("gen_ms", gen_ms);
    r.append(out.data(), out.size() * 4);
    if (want_logits) {
        r.set("n_vocab", (int64_t) m.n_vocab);
        r.append(trajectory.data(), trajectory.size());
    }
}

static void op_capture(const Request & req, Reply & r) {
    Model & m = need_ctx(req, "capture");
    if (!m.capture_on || !m.cap) {
        fail("state", "Cannot capture: \"" + m.path + "\" was loaded without capture=1. Load it with capture=1.");
    }
    std::string filter = req.need_str("filter");
    bool        all    = req.choice("logits", "all", { "all", "last" }) == "all";
    auto        ids    = req.ids();
    check_ids(m, ids, "capture");
    uint32_t ub = llama_n_ubatch(m.ctx);
    if (ids.size() > ub) {
        fail("range", "Cannot capture " + std::to_string(ids.size()) + " tokens: one capture is one graph of at most " +
                          std::to_string(ub) + " tokens (n_ubatch). Capture fewer, or load with a larger n_batch.");
    }
    Capture & c = *m.cap;
    if (c.re_ok) {
        regfree(&c.re);
        c.re_ok = false;
    }
    int rc = regcomp(&c.re, filter.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char err[256];
        regerror(rc, &c.re, err, sizeof err);
        fail("bad_request", "Cannot capture: the filter \"" + filter + "\" is not a valid regular expression (" + err +
                                "). Use the POSIX ERE / JavaScript common subset (PROTOCOL.md, capture).",
             { { "field", "filter" } });
    }
    c.re_ok = true;
    size_t rows = all ? ids.size() : 1;
    check_fits(m, ids.size(), 0, rows, "capture");
    llama_kv_cache_clear(m.ctx);
    m.n_past = 0;
    c.clear();
    c.armed = true;
    std::vector<uint8_t> logits;
    double               ms;
    try {
        ms = decode_into(m, ids, 0, all, &logits);
    } catch (...) {
        c.armed = false;
        throw;
    }
    c.armed = false;
    r.set("rows", (int64_t) rows);
    r.set("n_vocab", (int64_t) m.n_vocab);
    r.set("pos0", (int64_t) 0);
    r.set("n_past", (int64_t) m.n_past);
    r.set_float("decode_ms", ms);
    uint64_t total = logits.size();
    int64_t  k = 0, s = 0;
    for (auto & name : c.order) {
        if (!c.data.count(name)) continue;
        total += c.data[name].size() * 4;
    }
    if (total > 0xffffffffull) fail("too_large", "Cannot capture: the tensors exceed a 4 GiB payload. Narrow the filter.");
    r.payload = std::move(logits);
    for (auto & name : c.order) {
        if (!c.data.count(name)) continue;
        std::string key = "tensor." + std::to_string(k);
        r.set(key + ".name", name);
        r.set(key + ".type", c.type[name]);
        std::string shape;
        for (auto d : c.shape[name]) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        r.set(key + ".shape", shape);
        r.append(c.data[name].data(), c.data[name].size() * 4);
        k++;
    }
    r.set("tensors", k);
    for (auto & name : c.order) {
        if (!c.skipped.count(name)) continue;
        std::string key = "skipped." + std::to_string(s);
        r.set(key + ".name", name);
        r.set(key + ".reason", c.skipped[name]);
        s++;
    }
    r.set("skipped", s);
    c.clear();
}

static void op_unload(const Request & req, Reply &) {
    Model & m = model_of(req, "unload");
    g_models.erase(m.handle);
}

// dequantize: `path*`, `tensor*`. Reads the tensor's bytes from the GGUF file and converts them with the library's
// own type traits. Reply: `type` (ggml type name), `type_id`, `shape` (ints), payload f32 in ggml order.
static void op_dequantize(const Request & req, Reply & r) {
    std::string path = req.need_str("path"), name = req.need_str("tensor");
    ggml_context *   meta = nullptr;
    gguf_init_params gp   = { /*no_alloc =*/true, /*ctx =*/&meta };
    gguf_context *   g    = gguf_init_from_file(path.c_str(), gp);
    if (!g) fail("not_found", "Cannot read \"" + path + "\" as GGUF. Check the path, or: crossval inspect " + path);
    struct Free {
        gguf_context * g;
        ggml_context * c;
        ~Free() {
            if (c) ggml_free(c);
            gguf_free(g);
        }
    } guard{ g, meta };
    int idx = gguf_find_tensor(g, name.c_str());
    ggml_tensor * t = meta ? ggml_get_tensor(meta, name.c_str()) : nullptr;
    if (idx < 0 || !t) fail("range", "Cannot dequantize: \"" + path + "\" has no tensor named \"" + name + "\".");
    size_t offset = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, idx);
    size_t nbytes = ggml_nbytes(t);
    int64_t n     = ggml_nelements(t);
    if ((uint64_t) n * 4 > 0xffffffffull) fail("too_large", "Cannot dequantize \"" + name + "\": over 4 GiB as f32.");
    std::vector<uint8_t> raw(nbytes);
    FILE * f = fopen(path.c_str(), "rb");
    if (!f) fail("not_found", "Cannot open \"" + path + "\": " + strerror(errno));
    bool ok = fseeko(f, (off_t) offset, SEEK_SET) == 0 && fread(raw.data(), 1, nbytes, f) == nbytes;
    fclose(f);
    if (!ok) fail("invalid_model", "Cannot read " + std::to_string(nbytes) + " bytes of \"" + name + "\" at offset " +
                                       std::to_string(offset) + " of \"" + path + "\": the file is truncated.");
    std::vector<float> out((size_t) n);
    if (t->type == GGML_TYPE_F32) {
        memcpy(out.data(), raw.data(), (size_t) n * 4);
    } else if (t->type == GGML_TYPE_F16) {
        ggml_fp16_to_fp32_row((const ggml_fp16_t *) raw.data(), out.data(), n);
    } else if (t->type == GGML_TYPE_BF16) {
        ggml_bf16_to_fp32_row((const ggml_bf16_t *) raw.data(), out.data(), n);
    } else {
        ggml_type_traits_t tr = ggml_internal_get_type_traits(t->type);
        if (!tr.to_float) fail("range", std::string("Cannot dequantize type ") + ggml_type_name(t->type) + ": no to_float.");
        if (t->type == GGML_TYPE_I2_S) {
            // One scale per tensor, after all the codes: the whole tensor is one "row" (llama-quantize.cpp does this).
            tr.to_float(raw.data(), out.data(), n);
        } else if (t->type == GGML_TYPE_IQ2_BN || t->type == GGML_TYPE_IQ1_BN) {
            // Each row starts with its scale (row_meta_size bytes: f32 for IQ2_BN, f16 for IQ1_BN; iqk_quantize.cpp,
            // IQ1BNQuantizer::quantize_one_row_2bn/_1bn), then the codes. ggml's to_float decodes the codes to
            // {-1, 0, +1} only (the matmul applies the scale), so the scale is applied here: the weights the matmul
            // computes with are scale * code.
            size_t  row  = ggml_row_size(t->type, t->ne[0]);
            size_t  meta = (size_t) tr.row_meta_size;
            int64_t rows = n / t->ne[0];
            for (int64_t i = 0; i < rows; i++) {
                const uint8_t * p = raw.data() + (size_t) i * row;
                float           d;
                if (t->type == GGML_TYPE_IQ2_BN) memcpy(&d, p, sizeof d);
                else {
                    ggml_fp16_t h;
                    memcpy(&h, p, sizeof h);
                    d = ggml_fp16_to_fp32(h);
                }
                float * y = out.data() + i * t->ne[0];
                tr.to_float(p + meta, y, t->ne[0]);
                for (int64_t j = 0; j < t->ne[0]; j++) y[j] *= d;
            }
        } else if (tr.row_meta_size > 0) {
            fail("range", std::string("Cannot dequantize type ") + ggml_type_name(t->type) +
                              ": its rows carry metadata this driver does not decode.");
        } else {
            size_t  row  = ggml_row_size(t->type, t->ne[0]);
            int64_t rows = n / t->ne[0];
            for (int64_t i = 0; i < rows; i++) tr.to_float(raw.data() + (size_t) i * row, out.data() + i * t->ne[0], t->ne[0]);
        }
    }
    std::string shape;
    int nd = ggml_n_dims(t);
    for (int i = 0; i < std::max(1, nd); i++) shape += (shape.empty() ? "" : ",") + std::to_string(t->ne[i]);
    r.set("type", ggml_type_name(t->type));
    r.set("type_id", (int64_t) t->type);
    r.set("shape", shape);
    r.append(out.data(), out.size() * 4);
}

// quantize: `path*`, `out*`, `ftype*` (`llama_ftype` number, e.g. 137 = IQ2_BN, 0 = all F32, 1 = F16),
// `allow_requantize` (default 1), `pure` (default 0), `threads` (default 0 = all). Writes `out` (the caller renames
// it into place). Reply: `rc`.
static void op_quantize(const Request & req, Reply & r) {
    std::string in = req.need_str("path"), out = req.need_str("out");
    int64_t     ftype = req.num("ftype", 0, true);
    auto        qp    = llama_model_quantize_default_params();
    qp.ftype            = (enum llama_ftype) ftype;
    qp.allow_requantize = req.flag("allow_requantize", true);
    qp.pure             = req.flag("pure", false);
    qp.nthread          = (int32_t) req.num("threads", 0);
    uint64_t mark = log_mark();
    uint32_t rc   = llama_model_quantize(in.c_str(), out.c_str(), &qp);
    if (rc != 0) {
        fail("invalid_model", "Cannot quantize \"" + in + "\" to ftype " + std::to_string(ftype) + ": rc " +
                                  std::to_string(rc) + ". The reference said:\n" + log_since(mark) +
                                  "Check the file with: crossval inspect " + in);
    }
    r.set("rc", (int64_t) rc);
}

int main() {
    // Private channel for frames, then fd 1 -> stderr (PROTOCOL.md section 2).
    g_out = dup(1);
    if (g_out < 0 || dup2(2, 1) < 0) {
        fprintf(stderr, "crossval-ref-driver: cannot set up the channel: %s\n", strerror(errno));
        return 3;
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    // ggml_abort's backtrace forks and execs gdb, then lldb, found on PATH (ggml/src/ggml.c, ggml_print_backtrace).
    // ik_llama.cpp at the pinned commit ignores GGML_NO_BACKTRACE, so honour it here: with no PATH both exec calls
    // fail and ggml falls back to backtrace_symbols, which is instant. The driver itself runs no program.
    if (getenv("GGML_NO_BACKTRACE")) setenv("PATH", "/nonexistent", 1);
    Request req;
    while (read_request(req)) {
        Reply       r;
        std::string seq = req.str("seq", "0");
        std::string op  = req.str("op");
        bool        bye = false;
        try {
            if (!req.has("seq")) fail("bad_request", "Missing field \"seq\" in the request.", { { "field", "seq" } });
            req.num("seq", 0);
            if (op != "hello" && !g_hello) fail("state", "Cannot run op \"" + op + "\" before hello. Send hello first.");
            if (op == "hello") op_hello(req, r);
            else if (op == "load") op_load(req, r);
            else if (op == "info") info_fields(model_of(req, "read info"), r);
            else if (op == "tokenize") op_tokenize(req, r);
            else if (op == "detokenize") op_detokenize(req, r);
            else if (op == "pieces") op_pieces(req, r);
            else if (op == "is_eog") op_is_eog(req, r);
            else if (op == "meta") op_meta(req, r);
            else if (op == "eval") op_eval(req, r);
            else if (op == "reset") op_reset(req, r);
            else if (op == "greedy") op_greedy(req, r);
            else if (op == "capture") op_capture(req, r);
            else if (op == "unload") op_unload(req, r);
            else if (op == "dequantize") op_dequantize(req, r);
            else if (op == "quantize") op_quantize(req, r);
            else if (op == "close") {
                g_models.clear();
                bye = true;
            } else fail("unsupported_op", "This driver does not implement op \"" + op + "\". It implements: " + OPS);
            send_frame("seq=" + escape(seq) + "\nstatus=ok\n" + r.header, r.payload);
        } catch (const ReplyError & e) {
            std::string h = "seq=" + escape(seq) + "\nstatus=error\nerror=" + e.code + "\nmessage=" + escape(e.message) + "\n";
            for (auto & kv : e.extra) h += kv.first + "=" + escape(kv.second) + "\n";
            send_frame(h, {});
        } catch (const std::exception & e) {
            std::string msg = std::string("The reference threw: ") + e.what() + ". The driver is still usable.";
            send_frame("seq=" + escape(seq) + "\nstatus=error\nerror=internal\nmessage=" + escape(msg) + "\n", {});
        }
        if (bye) break;
    }
    g_models.clear();
    if (g_hello) llama_backend_free();
    return 0;
}
