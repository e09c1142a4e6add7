/*
 * envelope.c - the signed, compressed units of the sync protocol: the
 * envelope a device pushes, the framing of a push body, and the pull (or
 * snapshot) response a hub answers.  wire.h describes the protocol; this
 * file owns the bytes, written down here and frozen by tests/golden/ and
 * the fuzz targets in tests/fuzz/.
 *
 * All integers are little-endian.  "id" below means 1..64 bytes each in
 * 0x21..0x7e (printable ASCII without space; never a NUL, so the decoded
 * C string is exactly what was signed).
 *
 * renkei envelope v1
 *
 *   off  size  field
 *   0    4     magic "RKE1"
 *   4    1     origin_len (1..64)
 *   5    n     origin: id of the device that signed
 *   .    1     room_len (1..64)
 *   .    n     room: id
 *   .    8     seq_first   1 <= seq_first <= seq_last <= 2^63-1
 *   .    8     seq_last
 *   .    2     schema_version
 *   .    8     hlc         <= 2^63-1 (it is stored as an SQLite INTEGER)
 *   .    4     dict_id     0: none; 1: dictionary v1 (below); others refused
 *   .    4     raw_len     changeset bytes, <= WIRE_MAX_RAW
 *   .    4     z_len       exactly the bytes up to the signature
 *   .    z_len one zstd frame (magic 0xFD2FB528; skippable frames refused)
 *              whose Frame_Content_Size is present and equal to raw_len and
 *              whose Dictionary_ID is absent or 0.  No checksum is written
 *              (the signature covers the frame); one present is checked.
 *   .    64    Ed25519 signature over "renkei-envelope-v1\0" || every byte
 *              above; nothing follows it
 *
 *   Sizes: ENVELOPE_MIN_SIZE (119: 1-byte ids, a 9-byte frame) up to
 *   WIRE_MAX_BODY.  Decoding verifies the signature over bytes 0..n-64
 *   before it reads a field, then parses with every length checked against
 *   what remains, then checks the frame header (content size known, equal
 *   to raw_len, <= WIRE_MAX_RAW, one frame filling z_len) before it
 *   allocates raw_len bytes and decompresses into exactly those.
 *   envelope_peek reads the head unverified, only to find the origin's key.
 *
 *   Dictionary v1 is zstd "raw content": plain bytes used as history
 *   before the changeset, so references into it cost a few bits.  Such
 *   dictionaries carry no id of their own (frames say 0), so dict_id names
 *   it.  Its bytes are built by env_dict1_build() from constants in this
 *   file, never from the live schema or SQLite, so every build of every
 *   version yields the same bytes; test_envelope pins their BLAKE2b-256.
 *   A better dictionary is dictionary 2: never change dictionary 1.
 *
 * renkei push body v1 (POST /v1/push)
 *
 *   repeated: u32 len, len bytes of envelope; len >= ENVELOPE_MIN_SIZE.
 *   At most WIRE_MAX_ENVELOPES envelopes and WIRE_MAX_BODY bytes; an empty
 *   body holds no envelopes.  The whole framing is checked before the first
 *   envelope is handed on, so a body with broken framing applies nothing.
 *
 * renkei pull v1 (GET /v1/pull, GET /v1/snapshot)
 *
 *   off  size  field
 *   0    4     magic "RKP1"
 *   4    8     next_cursor  <= 2^63-1
 *   12   8     head         <= 2^63-1
 *   20   4     ctl_len      (>= 2)
 *   24   n     ctl: a JSON object, UTF-8, no NUL, no duplicate keys:
 *              {"snapshot": [ROOM...], "purge": [ROOM...]}
 *   .    4     count
 *   .          count entries of:
 *                8  hub_seq  <= 2^63-1
 *                1  room_len (0..64; 0 is the directory)
 *                n  room: id, or "" for the directory
 *                4  raw_len  <= WIRE_MAX_RAW
 *                4  z_len
 *                z_len  one zstd frame, as in the envelope, without a
 *                       dictionary (the layout has no dict_id)
 *   .    64    Ed25519 signature by the hub over "renkei-pull-v1\0" ||
 *              every byte above; nothing follows it
 *
 *   The raw_len of all entries together is at most ENVELOPE_PULL_MAX_RAW,
 *   so that even a response signed by the hub cannot make a device
 *   allocate without bound.  Decoding verifies first, as above.
 */
#include "daemon/envelope.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/log.h"
#include "daemon/wire.h"

#define ENV_SIG_LEN 64		/* crypto_sign_BYTES */
#define ENV_ID_MAX 64
#define ENV_HEAD_FIXED 38	/* seq_first .. z_len */
#define ENV_HEAD_MIN (4 + 1 + 1 + 1 + 1 + ENV_HEAD_FIXED)
#define ENV_FRAME_MIN 9		/* magic, descriptor, 1-byte FCS, block header */
/* zstd levels: 19 costs ~0.15 ms on a single visit and saves 5-10% over
 * 3; above a few KiB (a room's merged run of entries, a pull entry, a
 * snapshot chunk) it costs ~100 ms per 20 entries for a few percent, so
 * those get level 3 (measured with tests/bench/bench_sync). */
#define ENV_LEVEL_SMALL 19
#define ENV_LEVEL_LARGE 3
#define ENV_SMALL_MAX (2u * 1024)
#define ENV_I64_MAX UINT64_C(0x7fffffffffffffff)

#define PULL_HEAD_FIXED (4 + 8 + 8 + 4)
#define PULL_CTL_MIN 2		/* "{}" */
#define PULL_ENTRY_MIN (8 + 1 + 4 + 4 + ENV_FRAME_MIN)

_Static_assert(ENVELOPE_MIN_SIZE == ENV_HEAD_MIN + ENV_FRAME_MIN +
    ENV_SIG_LEN, "ENVELOPE_MIN_SIZE is the smallest possible envelope");
_Static_assert(sizeof(WIRE_SIG_ENVELOPE) == 19, "domain string + NUL");
_Static_assert(sizeof(WIRE_SIG_PULL) == 15, "domain string + NUL");

/* ---- library set-up and dictionary v1 --------------------------------- */

#define ENV_DICT1_CAP 8192

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_sodium_ok;
static uint8_t env_dict1[ENV_DICT1_CAP];
static size_t env_dict1_len;

/*
 * One zstd compression and one decompression context per thread, made on
 * first use and freed when the thread ends.  Every use is one whole frame
 * after a reset of session and parameters (env_deflate, env_inflate), so
 * writers and decoders that take turns on one thread never see each
 * other's state; keeping the contexts spares a hub request or a push the
 * allocation and clearing of their tables for every envelope.
 */
struct env_zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

static pthread_key_t env_zkey;
static int env_zkey_ok;

struct dictb {
	uint8_t *p;
	size_t len, cap;
	int overflow;
};

static void
d_bytes(struct dictb *d, const void *p, size_t n)
{
	if (n > d->cap - d->len) {
		d->overflow = 1;
		return;
	}
	memcpy(d->p + d->len, p, n);
	d->len += n;
}

static void
d_byte(struct dictb *d, unsigned v)
{
	uint8_t b = (uint8_t)v;

	d_bytes(d, &b, 1);
}

/* Plain text, as it recurs inside TEXT values. */
static void
d_raw(struct dictb *d, const char *s)
{
	d_bytes(d, s, strlen(s));
}

/* The changeset format (sqlite3session.h): a table header is 'T', a
 * varint column count, one byte per column (its 1-based place in the
 * PRIMARY KEY or 0), the name and a NUL.  pk is given as digits. */
static void
d_table(struct dictb *d, const char *name, const char *pk)
{
	size_t i;

	d_byte(d, 'T');
	d_byte(d, (unsigned)strlen(pk));	/* < 128: a one-byte varint */
	for (i = 0; pk[i] != '\0'; i++)
		d_byte(d, (unsigned)(pk[i] - '0'));
	d_bytes(d, name, strlen(name) + 1);
}

/* A change: operation (SQLITE_INSERT 18, SQLITE_UPDATE 23) and the
 * "indirect" flag. */
static void
d_op(struct dictb *d, unsigned op)
{
	d_byte(d, op);
	d_byte(d, 0);
}

static void
d_int(struct dictb *d, uint64_t v)
{
	int i;

	d_byte(d, 0x01);
	for (i = 7; i >= 0; i--)
		d_byte(d, (unsigned)(v >> (8 * i)) & 0xff);
}

/* A REAL value: 0x02 and the IEEE 754 bits big-endian.  Given as the bits
 * so that the bytes do not depend on the build's floating point. */
static void
d_real(struct dictb *d, uint64_t bits)
{
	int i;

	d_byte(d, 0x02);
	for (i = 7; i >= 0; i--)
		d_byte(d, (unsigned)(bits >> (8 * i)) & 0xff);
}

static void
d_text(struct dictb *d, const char *s)
{
	size_t n = strlen(s);

	d_byte(d, 0x03);
	if (n >= 128)
		d_byte(d, 0x80 | (unsigned)(n >> 7));	/* n < 16384 here */
	d_byte(d, (unsigned)(n & 0x7f));
	d_bytes(d, s, n);
}

static void
d_null(struct dictb *d)
{
	d_byte(d, 0x05);
}

static void
d_undef(struct dictb *d)
{
	d_byte(d, 0x00);
}

/* Sample values: a Unix ms time and an HLC from 2026, ids as common/id.c
 * makes them in 2026, the names the demo uses. */
#define DV_MS UINT64_C(1795456536123)
#define DV_HLC (DV_MS << 16)
#define DV_ROOM "tanaka-hanako"
#define DV_DEVICE "01KAB3Q7ZC4M0T8V2N6J5R9XWE"
#define DV_NURSE "nurse-sato"
#define DV_ID1 "01KAB3R2M8XHQ5T7V0C9N4J6PD"
#define DV_ID2 "01KAB3S9W1F6K2Y8D3B5Q7M0GT"
#define DV_ID3 "01KAB3T4E7J0R5N9H2C6W8Z1XK"

/* Words of Japanese home-care notes, least common first: zstd codes a
 * nearer match in fewer bits, so what recurs most sits at the end. */
static const char *const env_dict1_words[] = {
	"サービス担当者会議", "訪問看護指示書", "訪問看護計画書",
	"訪問看護報告書", "特別訪問看護指示書", "居宅療養管理指導",
	"ケアプラン", "同意書", "書類", "FAX", "郵送", "提出",
	"人生会議", "看取り", "ターミナル", "緩和ケア", "麻薬",
	"レスキュー", "オピオイド", "貼付剤", "在宅酸素", "HOT",
	"L/分", "胃ろう", "経管栄養", "注入", "カテーテル",
	"膀胱留置カテーテル", "ストーマ", "パウチ交換", "点滴",
	"留置針", "刺入部", "インスリン", "自己注射", "血糖", "血糖値",
	"低血糖", "吸引", "喀痰", "痰", "咳嗽", "喘鳴", "肺雑音",
	"副雑音", "腸蠕動音", "聴診", "心不全", "糖尿病", "高血圧",
	"脳梗塞", "認知症", "パーキンソン病", "がん", "骨折",
	"要介護", "要支援", "介護度", "ケアマネジャー", "ケアマネ",
	"ヘルパー", "訪問介護", "訪問診療", "訪問入浴", "デイサービス",
	"ショートステイ", "福祉用具", "主治医", "医師", "薬剤師",
	"理学療法士", "作業療法士", "言語聴覚士", "看護師", "保健師",
	"長女", "長男", "次女", "次男", "妻", "夫", "嫁", "孫",
	"入院", "退院", "受診", "往診", "処方", "検査", "採血",
	"結果", "変更", "中止", "開始", "増量", "減量", "緊急時",
	"救急搬送", "救急車", "連絡先", "発熱", "解熱", "微熱",
	"感染", "熱感", "冷感", "悪寒", "嘔気", "嘔吐", "腹痛",
	"腹部膨満", "腹部膨満感", "便秘", "下痢", "軟便", "普通便",
	"硬便", "浣腸", "摘便", "失禁", "尿量", "尿意", "おむつ交換",
	"陰部洗浄", "褥瘡", "発赤", "表皮剥離", "処置", "ガーゼ",
	"軟膏", "塗布", "保護", "フィルム", "ドレッシング材",
	"体位変換", "除圧", "エアマット", "拘縮", "関節可動域",
	"リハビリ", "歩行", "歩行器", "杖", "車椅子", "移乗", "転倒",
	"ふらつき", "ベッド上", "臥床", "離床", "座位", "端座位",
	"立位", "睡眠", "不眠", "入眠", "傾眠", "覚醒", "意識",
	"意識レベル清明", "せん妄", "不穏", "穏やか", "笑顔", "表情",
	"会話", "難聴", "視力", "嚥下", "むせ込み", "口腔ケア",
	"義歯", "入浴", "入浴介助", "シャワー浴", "清拭", "全身清拭",
	"足浴", "手浴", "洗髪", "更衣", "爪切り", "皮膚", "皮膚状態",
	"乾燥", "掻痒感", "保湿", "浮腫", "下肢浮腫", "むくみ",
	"疼痛", "痛み", "腰痛", "膝痛", "鎮痛剤", "頓用", "頓服",
	"内服", "服薬", "服薬確認", "飲み忘れ", "残薬", "薬",
	"お薬カレンダー", "一包化", "点眼", "食欲", "食欲低下",
	"食事", "食事摂取", "摂取量", "全量摂取", "半量摂取",
	"水分摂取", "水分", "飲水", "排尿", "排便", "排便あり",
	"排便なし", "呼吸苦", "息苦しさ", "酸素", "酸素飽和度",
	"呼吸数", "呼吸", "脈拍", "不整脈", "体温", "血圧", "体重",
	"体重増加", "体重減少", "増加", "減少", "著明", "中等度",
	"軽度", "良好", "不良", "不安定", "安定", "変化なし",
	"著変なし", "異常なし", "問題なし", "特記事項なし",
	"経過観察", "様子観察", "継続", "観察", "注意", "状態",
	"様子", "家族", "本人", "家族より", "本人より", "訴えあり",
	"訴えなし", "聴取", "情報共有", "申し送り", "報告", "相談",
	"説明", "指導", "依頼", "連絡", "実施", "確認", "確認済み",
	"本日", "昨日", "明日", "今朝", "夜間", "日中", "午前",
	"午後", "朝", "昼", "夕", "眠前", "次回", "次回訪問",
	"予定", "訪問", "訪問時", "ご確認ください",
	"よろしくお願いします", "お願いします", "ありがとうございます",
	"了解しました", "承知しました", "とのこと", "みられる",
	"見られた", "している", "していた", "されている", "あり",
	"なし", "です", "ます", "でした", "しました", "ました",
	"やや", "少し", "かなり", "特に", "時々", "ほど", "程度", "以上",
	"以下", "前回", "今回", "今後", "引き続き", "毎日", "1日", "2回",
	"3回", "回数", "時間", "分", "ml", "cm", "大", "部位", "右", "左",
	"両", "上肢", "下肢", "足", "手", "背部", "臀部", "仙骨部", "踵",
	"頭痛", "胸痛", "咳", "鼻汁", "倦怠感", "疲労感", "息切れ", "めまい",
	"食べ", "飲み", "眠れ", "歩け", "話し", "帰宅", "来訪", "外出",
	"電話", "電話で", "連絡あり", "連絡した", "伝えた", "説明した",
	"報告した", "依頼した", "実施した", "行った", "使用", "交換", "調整",
	"購入", "準備", "対応", "希望", "不安", "心配", "訴え", "問題",
	"となった", "になった", "とのことで", "ている", "ていた", "ておく",
	"ておられる", "られる", "れる", "ない", "なく", "あった", "なかった",
	"ある", "いる", "した", "する", "します", "していく", "してもらう",
	"してください", "確認した", "確認する", "観察した", "継続する",
	"様子を見る", "見守り", "声かけ", "促す", "促した", "勧めた",
	"。", "、", "（", "）", "・", "：", "％", "℃",
	"mmHg", "回/分", "kg", "mg", "ml",
	"バイタル", "バイタルサイン", "バイタル安定",
	"バイタル著変なし。",
};

/* The synthetic changeset sample: a header and a typical row of each
 * synced table, the most frequent (visits, posts, read receipts) last. */
static void
env_dict1_build(struct dictb *d)
{
	size_t i;

	/* The directory: rare in envelopes (the hub writes it). */
	d_table(d, "agencies", "1000");
	d_table(d, "staff", "1000000");
	d_table(d, "devices", "10000000");
	d_table(d, "rooms", "10000000");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, "patient"); d_text(d, "田中 花子");
	d_text(d, "active"); d_null(d); d_text(d, DV_NURSE);
	d_int(d, DV_MS); d_int(d, DV_HLC);
	d_table(d, "memberships", "12000000");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, "dr-suzuki"); d_text(d, "member");
	d_text(d, "active"); d_text(d, DV_NURSE); d_int(d, DV_MS);
	d_int(d, DV_HLC);
	d_table(d, "patients", "10000000");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, "田中 花子"); d_text(d, "タナカ ハナコ");
	d_text(d, "1941-05-12"); d_text(d, "F");
	d_text(d, "東京都武蔵野市吉祥寺本町1-2-3"); d_text(d, "0422-00-0000");
	d_int(d, DV_HLC);
	d_table(d, "consents", "1200000000000");
	d_table(d, "medications", "12000000000");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, DV_ID3); d_text(d, "フロセミド錠20mg");
	d_text(d, "1錠"); d_text(d, "内服"); d_text(d, "1日1回 朝食後");
	d_text(d, "2026-04-01"); d_null(d); d_text(d, "鈴木医院 鈴木一郎");
	d_null(d); d_int(d, DV_HLC);
	d_table(d, "requests", "120000000000000");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, DV_ID2); d_text(d, "document");
	d_text(d, "訪問看護指示書の更新"); d_text(d, "次回分の指示書をお願いします。");
	d_text(d, DV_NURSE); d_text(d, "dr-suzuki"); d_int(d, DV_MS);
	d_text(d, "2026-12-01"); d_text(d, "open"); d_null(d); d_null(d);
	d_null(d); d_null(d); d_int(d, DV_HLC);
	d_table(d, "emergency_cards", "1000000000000");
	d_op(d, 23);	/* an UPDATE: old values, then new */
	d_text(d, DV_ROOM); d_text(d, "慢性心不全"); d_undef(d); d_undef(d);
	d_undef(d); d_undef(d); d_undef(d); d_text(d, "要介護1"); d_undef(d);
	d_undef(d); d_text(d, DV_NURSE); d_int(d, DV_MS); d_int(d, DV_HLC);
	d_undef(d); d_text(d, "慢性心不全、2型糖尿病"); d_undef(d); d_undef(d);
	d_undef(d); d_undef(d); d_undef(d); d_text(d, "要介護2"); d_undef(d);
	d_undef(d); d_text(d, DV_NURSE); d_int(d, DV_MS); d_int(d, DV_HLC);

	for (i = 0; i < sizeof(env_dict1_words) / sizeof(env_dict1_words[0]);
	    i++)
		d_raw(d, env_dict1_words[i]);

	d_table(d, "read_receipts", "12300");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, DV_ID1); d_text(d, DV_NURSE);
	d_int(d, DV_MS); d_int(d, DV_HLC);
	d_table(d, "posts", "1200000");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, DV_ID2); d_text(d, DV_NURSE);
	d_int(d, DV_MS); d_text(d, "本日訪問しました。夜間の息苦しさはないと"
	    "のことです。次回訪問時に確認します。"); d_null(d); d_int(d, DV_HLC);
	d_table(d, "visits", "12000000000000");
	d_op(d, 18);
	d_text(d, DV_ROOM); d_text(d, DV_ID1); d_text(d, DV_NURSE);
	d_int(d, DV_MS); d_int(d, 128); d_int(d, 76); d_int(d, 72);
	d_real(d, UINT64_C(0x4042666666666666));	/* 36.8 */
	d_int(d, 97); d_int(d, 16); d_null(d);
	d_text(d, "バイタル安定。食事摂取良好、水分摂取も促している。排便あり"
	    "（普通便）。下肢浮腫軽度、皮膚トラブルなし。服薬確認済み、残薬"
	    "なし。本人より「夜はよく眠れている」とのこと。");
	d_null(d); d_int(d, DV_HLC);
}

static int env_init(void);

static void
env_zctx_free(void *arg)
{
	struct env_zctx *z = arg;

	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

/* This thread's contexts (env_zctx), or NULL when out of memory. */
static struct env_zctx *
env_zctx(void)
{
	struct env_zctx *z;

	if (env_init() != 0 || !env_zkey_ok)
		return NULL;
	if ((z = pthread_getspecific(env_zkey)) == NULL) {
		if ((z = calloc(1, sizeof(*z))) == NULL)
			return NULL;
		if (pthread_setspecific(env_zkey, z) != 0) {
			free(z);
			return NULL;
		}
	}
	return z;
}

static ZSTD_CCtx *
env_cctx(void)
{
	struct env_zctx *z = env_zctx();

	if (z != NULL && z->c == NULL)
		z->c = ZSTD_createCCtx();
	return z != NULL ? z->c : NULL;
}

static ZSTD_DCtx *
env_dctx(void)
{
	struct env_zctx *z = env_zctx();

	if (z != NULL && z->d == NULL)
		z->d = ZSTD_createDCtx();
	return z != NULL ? z->d : NULL;
}

static void
env_init_once(void)
{
	struct dictb d = { env_dict1, 0, sizeof(env_dict1), 0 };

	env_sodium_ok = sodium_init() >= 0;
	env_zkey_ok = pthread_key_create(&env_zkey, env_zctx_free) == 0;
	env_dict1_build(&d);
	/* A compile-time constant input: overflow is a bug caught by the
	 * dictionary test, not a run-time condition. */
	env_dict1_len = d.overflow ? 0 : d.len;
}

static int
env_init(void)
{
	if (pthread_once(&env_once, env_init_once) != 0 || !env_sodium_ok ||
	    env_dict1_len == 0) {
		log_warnx("envelope: cannot initialise (libsodium or the "
		    "compression dictionary)");
		return RK_ECRYPTO;
	}
	return 0;
}

const uint8_t *
envelope_dict(uint32_t dict_id, size_t *len)
{
	if (dict_id != ENVELOPE_DICT_V1 || env_init() != 0) {
		*len = 0;
		return NULL;
	}
	*len = env_dict1_len;
	return env_dict1;
}

/* ---- little-endian bytes ---------------------------------------------- */

static void
le_put(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int
buf_le(struct buf *b, uint64_t v, int n)
{
	uint8_t tmp[8];

	le_put(tmp, v, n);
	return buf_append(b, tmp, (size_t)n);
}

/* A bounds-checked reader over untrusted bytes. */
struct rd {
	const uint8_t *p;
	size_t n, off;
};

static int
rd_take(struct rd *r, size_t k, const uint8_t **out)
{
	if (k > r->n - r->off)
		return -1;
	*out = r->p + r->off;
	r->off += k;
	return 0;
}

static int
rd_le(struct rd *r, int n, uint64_t *v)
{
	const uint8_t *q;

	if (rd_take(r, (size_t)n, &q) != 0)
		return -1;
	*v = le_get(q, n);
	return 0;
}

/* ---- ids ---------------------------------------------------------------- */

static int
env_id_ok(const uint8_t *s, size_t n, size_t min)
{
	size_t i;

	if (n < min || n > ENV_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* A C string id for encoding: its length, or -1 if not an id. */
static int
env_id_len(const char *s, size_t min)
{
	size_t n;

	if (s == NULL)
		return -1;
	n = strnlen(s, ENV_ID_MAX + 1);
	return env_id_ok((const uint8_t *)s, n, min) ? (int)n : -1;
}

/* ---- signatures --------------------------------------------------------- */

/* The message is the domain string with its NUL, then the bytes: one
 * buffer, since Ed25519 (not Ed25519ph) cannot be fed piecewise. */
static int
env_sig_message(const char *domain, size_t dlen, const uint8_t *p, size_t n,
    uint8_t **msg)
{
	uint8_t *m;

	if (n > SIZE_MAX - dlen || (m = malloc(dlen + n)) == NULL)
		return RK_ENOMEM;
	memcpy(m, domain, dlen);
	if (n > 0)
		memcpy(m + dlen, p, n);
	*msg = m;
	return 0;
}

/* Verifies the last 64 bytes of p[0..n) as a signature over the domain
 * and the bytes before them.  0, RK_EAUTH or RK_ENOMEM. */
static int
env_verify(const char *domain, size_t dlen, const uint8_t *p, size_t n,
    const uint8_t pk[32])
{
	uint8_t *msg = NULL;
	int rc;

	if (n < ENV_SIG_LEN)
		return RK_EAUTH;
	if ((rc = env_sig_message(domain, dlen, p, n - ENV_SIG_LEN, &msg)) != 0)
		return rc;
	rc = crypto_sign_verify_detached(p + n - ENV_SIG_LEN, msg,
	    dlen + n - ENV_SIG_LEN, pk) == 0 ? 0 : RK_EAUTH;
	free(msg);
	return rc;
}

/* Signs all of b, which the caller built starting with the domain string,
 * and appends the signature. */
static int
env_sign_append(struct buf *b, const uint8_t sk[64])
{
	uint8_t sig[ENV_SIG_LEN];

	crypto_sign_detached(sig, NULL, b->data, b->len, sk);
	return buf_append(b, sig, sizeof(sig));
}

/* ---- zstd ---------------------------------------------------------------- */

/* Compresses src into b (appending) with dictionary dict_id. */
static int
env_deflate(ZSTD_CCtx *cctx, uint32_t dict_id, const uint8_t *src,
    size_t len, struct buf *b)
{
	const uint8_t *dict = NULL;
	size_t dlen = 0, bound = ZSTD_compressBound(len), r;
	int rc;

	if (dict_id == ENVELOPE_DICT_V1 &&
	    (dict = envelope_dict(dict_id, &dlen)) == NULL)
		return RK_ECRYPTO;
	if ((rc = buf_reserve(b, bound)) != 0)
		return rc;
	r = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
		    len <= ENV_SMALL_MAX ? ENV_LEVEL_SMALL : ENV_LEVEL_LARGE);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_refPrefix(cctx, dict, dlen);
	if (!ZSTD_isError(r))
		r = ZSTD_compress2(cctx, b->data + b->len, bound,
		    len > 0 ? src : (const uint8_t *)"", len);
	if (ZSTD_isError(r)) {
		log_warnx("envelope: zstd: %s", ZSTD_getErrorName(r));
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ?
		    RK_ENOMEM : RK_EIO;
	}
	b->len += r;
	return 0;
}

/* Checks a frame of untrusted bytes against raw_len from its header
 * alone, then decompresses it into a new raw_len-byte buffer (*out, the
 * caller's to free()). */
static int
env_inflate(ZSTD_DCtx *dctx, uint32_t dict_id, const uint8_t *z, size_t zlen,
    uint32_t raw_len, uint8_t **out, struct rk_why *why)
{
	const uint8_t *dict = NULL;
	unsigned long long fcs;
	size_t dlen = 0, r;
	uint8_t *raw;

	if (raw_len > WIRE_MAX_RAW)
		return rk_whyf(why, RK_EPROTO, "raw_len %u is over the limit "
		    "of %u bytes", raw_len, WIRE_MAX_RAW);
	if (zlen < ENV_FRAME_MIN || le_get(z, 4) != ZSTD_MAGICNUMBER)
		return rk_whyf(why, RK_EPROTO, "not a zstd frame");
	r = ZSTD_findFrameCompressedSize(z, zlen);
	if (ZSTD_isError(r))
		return rk_whyf(why, RK_EPROTO, "bad zstd frame: %s",
		    ZSTD_getErrorName(r));
	if (r != zlen)
		return rk_whyf(why, RK_EPROTO, "%zu bytes follow the zstd "
		    "frame", zlen - r);
	fcs = ZSTD_getFrameContentSize(z, zlen);
	if (fcs == ZSTD_CONTENTSIZE_UNKNOWN)
		return rk_whyf(why, RK_EPROTO, "the zstd frame does not say "
		    "its content size");
	if (fcs == ZSTD_CONTENTSIZE_ERROR)
		return rk_whyf(why, RK_EPROTO, "bad zstd frame header");
	if (fcs > WIRE_MAX_RAW)
		return rk_whyf(why, RK_EPROTO, "the zstd frame holds %llu "
		    "bytes, over the limit of %u", fcs, WIRE_MAX_RAW);
	if (fcs != raw_len)
		return rk_whyf(why, RK_EPROTO, "the zstd frame holds %llu "
		    "bytes, not raw_len %u", fcs, raw_len);
	if (ZSTD_getDictID_fromFrame(z, zlen) != 0)
		return rk_whyf(why, RK_EPROTO, "the zstd frame names "
		    "dictionary %u", ZSTD_getDictID_fromFrame(z, zlen));
	if (dict_id == ENVELOPE_DICT_V1 &&
	    (dict = envelope_dict(dict_id, &dlen)) == NULL)
		return rk_whyf(why, RK_ECRYPTO, "no dictionary");
	if ((raw = malloc(raw_len > 0 ? raw_len : 1)) == NULL)
		return rk_whyf(why, RK_ENOMEM, "out of memory");
	r = ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(r))
		r = ZSTD_DCtx_refPrefix(dctx, dict, dlen);
	if (!ZSTD_isError(r))
		r = ZSTD_decompressDCtx(dctx, raw, raw_len, z, zlen);
	if (ZSTD_isError(r) || r != raw_len) {
		free(raw);
		if (ZSTD_isError(r) &&
		    ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return rk_whyf(why, RK_ENOMEM, "out of memory");
		if (ZSTD_isError(r))
			return rk_whyf(why, RK_EPROTO, "zstd: %s",
			    ZSTD_getErrorName(r));
		return rk_whyf(why, RK_EPROTO, "the zstd frame held %zu "
		    "bytes, not raw_len %u", r, raw_len);
	}
	*out = raw;
	return 0;
}

/* ---- envelopes ---------------------------------------------------------- */

struct env_head {
	char origin[ENV_ID_MAX + 1];
	char room[ENV_ID_MAX + 1];
	uint64_t seq_first, seq_last, hlc;
	uint16_t schema_version;
	uint32_t dict_id, raw_len, z_len;
	const uint8_t *frame;
};

/* Parses p[0..n), the envelope without its signature: the head, then
 * exactly z_len bytes of frame. */
static int
env_head_parse(const uint8_t *p, size_t n, struct env_head *h,
    struct rk_why *why)
{
	struct rd r = { p, n, 0 };
	const uint8_t *q;
	uint64_t v, olen, rlen;

	memset(h, 0, sizeof(*h));
	if (rd_take(&r, 4, &q) != 0 || memcmp(q, WIRE_ENVELOPE_MAGIC, 4) != 0)
		return rk_whyf(why, RK_EPROTO, "not an envelope (magic)");
	if (rd_le(&r, 1, &olen) != 0 || rd_take(&r, olen, &q) != 0 ||
	    !env_id_ok(q, olen, 1))
		return rk_whyf(why, RK_EPROTO, "envelope origin: not 1-64 "
		    "printable characters within the envelope");
	memcpy(h->origin, q, olen);
	if (rd_le(&r, 1, &rlen) != 0 || rd_take(&r, rlen, &q) != 0 ||
	    !env_id_ok(q, rlen, 1))
		return rk_whyf(why, RK_EPROTO, "envelope room: not 1-64 "
		    "printable characters within the envelope");
	memcpy(h->room, q, rlen);
	if (rd_le(&r, 8, &h->seq_first) != 0 ||
	    rd_le(&r, 8, &h->seq_last) != 0 || rd_le(&r, 2, &v) != 0 ||
	    rd_le(&r, 8, &h->hlc) != 0)
		return rk_whyf(why, RK_EPROTO, "envelope head: truncated");
	h->schema_version = (uint16_t)v;
	if (rd_le(&r, 4, &v) != 0)
		return rk_whyf(why, RK_EPROTO, "envelope head: truncated");
	h->dict_id = (uint32_t)v;
	if (rd_le(&r, 4, &v) != 0)
		return rk_whyf(why, RK_EPROTO, "envelope head: truncated");
	h->raw_len = (uint32_t)v;
	if (rd_le(&r, 4, &v) != 0)
		return rk_whyf(why, RK_EPROTO, "envelope head: truncated");
	h->z_len = (uint32_t)v;
	if (h->z_len != r.n - r.off)
		return rk_whyf(why, RK_EPROTO, "envelope z_len %u does not "
		    "match the %zu bytes before the signature", h->z_len,
		    r.n - r.off);
	h->frame = r.p + r.off;
	return 0;
}

int
envelope_peek(const uint8_t *p, size_t n, char origin[65], char room[65])
{
	struct env_head h;
	int rc;

	if (p == NULL || n < ENVELOPE_MIN_SIZE || n > WIRE_MAX_BODY)
		return RK_EPROTO;
	if ((rc = env_head_parse(p, n - ENV_SIG_LEN, &h, NULL)) != 0)
		return rc;
	memcpy(origin, h.origin, sizeof(h.origin));
	memcpy(room, h.room, sizeof(h.room));
	return 0;
}

int
envelope_encode_dict(const struct envelope *e, uint32_t dict_id,
    const uint8_t sign_sk[64], struct buf *out)
{
	struct buf b = BUF_INIT;
	ZSTD_CCtx *cctx = NULL;
	size_t zoff;
	int olen, rlen, rc;

	if ((rc = env_init()) != 0)
		return rc;
	olen = env_id_len(e->origin, 1);
	rlen = env_id_len(e->room, 1);
	if (olen < 0 || rlen < 0 || e->seq_first < 1 ||
	    e->seq_last < e->seq_first || e->seq_last > ENV_I64_MAX ||
	    e->hlc > ENV_I64_MAX || e->changeset_len > WIRE_MAX_RAW ||
	    (e->changeset == NULL && e->changeset_len > 0) ||
	    (dict_id != ENVELOPE_DICT_NONE && dict_id != ENVELOPE_DICT_V1)) {
		log_warnx("envelope: refusing to encode a bad envelope "
		    "(origin, room, seq, hlc, size or dictionary)");
		return RK_EINVAL;
	}
	if ((cctx = env_cctx()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	/* Built as domain || head || frame so the signed message is b. */
	if ((rc = buf_append(&b, WIRE_SIG_ENVELOPE,
	    sizeof(WIRE_SIG_ENVELOPE))) != 0 ||
	    (rc = buf_append(&b, WIRE_ENVELOPE_MAGIC, 4)) != 0 ||
	    (rc = buf_le(&b, (uint64_t)olen, 1)) != 0 ||
	    (rc = buf_append(&b, e->origin, (size_t)olen)) != 0 ||
	    (rc = buf_le(&b, (uint64_t)rlen, 1)) != 0 ||
	    (rc = buf_append(&b, e->room, (size_t)rlen)) != 0 ||
	    (rc = buf_le(&b, e->seq_first, 8)) != 0 ||
	    (rc = buf_le(&b, e->seq_last, 8)) != 0 ||
	    (rc = buf_le(&b, e->schema_version, 2)) != 0 ||
	    (rc = buf_le(&b, e->hlc, 8)) != 0 ||
	    (rc = buf_le(&b, dict_id, 4)) != 0 ||
	    (rc = buf_le(&b, e->changeset_len, 4)) != 0 ||
	    (rc = buf_le(&b, 0, 4)) != 0)	/* z_len, set below */
		goto out;
	zoff = b.len;
	if ((rc = env_deflate(cctx, dict_id, e->changeset, e->changeset_len,
	    &b)) != 0)
		goto out;
	le_put(b.data + zoff - 4, b.len - zoff, 4);
	if ((rc = env_sign_append(&b, sign_sk)) != 0)
		goto out;
	/* The domain string is signed, never sent. */
	rc = buf_append(out, b.data + sizeof(WIRE_SIG_ENVELOPE),
	    b.len - sizeof(WIRE_SIG_ENVELOPE));
out:
	buf_release(&b);
	return rc;
}

int
envelope_encode(const struct envelope *e, const uint8_t sign_sk[64],
    struct buf *out)
{
	return envelope_encode_dict(e, ENVELOPE_DICT_V1, sign_sk, out);
}

int
envelope_decode_why(const uint8_t *p, size_t n, const uint8_t sign_pk[32],
    struct envelope *e, struct rk_why *why)
{
	struct env_head h;
	ZSTD_DCtx *dctx = NULL;
	uint8_t *raw = NULL;
	int rc;

	if ((rc = env_init()) != 0)
		return rk_whyf(why, rc, "cannot initialise");
	if (p == NULL || n < ENVELOPE_MIN_SIZE || n > WIRE_MAX_BODY)
		return rk_whyf(why, RK_EPROTO, "an envelope of %zu bytes is "
		    "impossible", n);
	/* Not a byte is read before this. */
	if ((rc = env_verify(WIRE_SIG_ENVELOPE, sizeof(WIRE_SIG_ENVELOPE), p,
	    n, sign_pk)) != 0)
		return rk_whyf(why, rc, rc == RK_EAUTH ? "envelope signature "
		    "does not verify" : "out of memory");
	if ((rc = env_head_parse(p, n - ENV_SIG_LEN, &h, why)) != 0)
		return rc;
	if (h.seq_first < 1 || h.seq_last < h.seq_first ||
	    h.seq_last > ENV_I64_MAX)
		return rk_whyf(why, RK_EPROTO, "envelope seq %llu..%llu is not "
		    "a range of outbox seqs", (unsigned long long)h.seq_first,
		    (unsigned long long)h.seq_last);
	if (h.hlc > ENV_I64_MAX)
		return rk_whyf(why, RK_EPROTO, "envelope hlc is out of range");
	if (h.dict_id != ENVELOPE_DICT_NONE && h.dict_id != ENVELOPE_DICT_V1)
		return rk_whyf(why, RK_EPROTO, "unknown dictionary %u",
		    h.dict_id);
	if ((dctx = env_dctx()) == NULL)
		return rk_whyf(why, RK_ENOMEM, "out of memory");
	rc = env_inflate(dctx, h.dict_id, h.frame, h.z_len, h.raw_len, &raw,
	    why);
	if (rc != 0)
		return rc;
	memset(e, 0, sizeof(*e));
	memcpy(e->origin, h.origin, sizeof(e->origin));
	memcpy(e->room, h.room, sizeof(e->room));
	e->seq_first = h.seq_first;
	e->seq_last = h.seq_last;
	e->schema_version = h.schema_version;
	e->hlc = h.hlc;
	e->changeset = raw;	/* freed by envelope_release */
	e->changeset_len = h.raw_len;
	return 0;
}

int
envelope_decode(const uint8_t *p, size_t n, const uint8_t sign_pk[32],
    struct envelope *e)
{
	struct rk_why why = { "" };
	int rc;

	if ((rc = envelope_decode_why(p, n, sign_pk, e, &why)) != 0)
		log_warnx("envelope: %s", why.text);
	return rc;
}

void
envelope_release(struct envelope *e)
{
	if (e == NULL)
		return;
	free(e->changeset);
	e->changeset = NULL;
	e->changeset_len = 0;
}

int
envelope_split(const uint8_t *body, size_t n,
    int (*fn)(void *arg, const uint8_t *env, size_t len), void *arg)
{
	size_t off, count = 0;
	uint64_t len;
	int rc;

	if (n > WIRE_MAX_BODY || (body == NULL && n > 0))
		return RK_EPROTO;
	/* First the whole framing, so that a broken body applies nothing. */
	for (off = 0; off < n; off += len) {
		if (n - off < 4)
			return RK_EPROTO;
		len = le_get(body + off, 4);
		off += 4;
		if (len < ENVELOPE_MIN_SIZE || len > n - off ||
		    ++count > WIRE_MAX_ENVELOPES)
			return RK_EPROTO;
	}
	for (off = 0; off < n; off += len) {
		len = le_get(body + off, 4);
		off += 4;
		if ((rc = fn(arg, body + off, (size_t)len)) != 0)
			return rc;
	}
	return 0;
}

/* ---- pull responses ------------------------------------------------------ */

struct pull_writer {
	struct buf b;		/* domain || "RKP1" ... entries so far */
	size_t count_off;	/* where the u32 count goes */
	uint32_t count;
	uint64_t raw_total;
};

/* A JSON object without NULs or duplicate keys. */
static int
pull_ctl_ok(const char *s, size_t n)
{
	json_error_t err;
	json_t *j;
	int ok;

	if (n < PULL_CTL_MIN || memchr(s, '\0', n) != NULL)
		return 0;
	j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &err);
	ok = json_is_object(j);
	json_decref(j);
	return ok;
}

int
pull_writer_new(uint64_t next_cursor, uint64_t head, const char *ctl_json,
    struct pull_writer **out)
{
	struct pull_writer *w;
	size_t clen;
	int rc;

	if ((rc = env_init()) != 0)
		return rc;
	if (ctl_json == NULL)
		ctl_json = "{}";
	clen = strlen(ctl_json);
	if (next_cursor > ENV_I64_MAX || head > ENV_I64_MAX ||
	    clen > WIRE_MAX_BODY || !pull_ctl_ok(ctl_json, clen)) {
		log_warnx("pull: refusing a bad response head (cursor, head "
		    "or ctl JSON)");
		return RK_EINVAL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return RK_ENOMEM;
	if ((rc = buf_append(&w->b, WIRE_SIG_PULL, sizeof(WIRE_SIG_PULL))) !=
	    0 || (rc = buf_append(&w->b, WIRE_PULL_MAGIC, 4)) != 0 ||
	    (rc = buf_le(&w->b, next_cursor, 8)) != 0 ||
	    (rc = buf_le(&w->b, head, 8)) != 0 ||
	    (rc = buf_le(&w->b, clen, 4)) != 0 ||
	    (rc = buf_append(&w->b, ctl_json, clen)) != 0)
		goto out;
	w->count_off = w->b.len;
	if ((rc = buf_le(&w->b, 0, 4)) != 0)
		goto out;
	*out = w;	/* the caller's: pull_writer_finish or _free */
	w = NULL;
out:
	pull_writer_free(w);
	return rc;
}

/* An entry's head, z_len 0 for now; returns where its frame starts. */
static int
pull_entry_head(struct pull_writer *w, uint64_t hub_seq, const char *room,
    uint64_t raw_len, size_t *zoff)
{
	int rlen = env_id_len(room, 0), rc;

	if (rlen < 0 || hub_seq > ENV_I64_MAX || raw_len > WIRE_MAX_RAW ||
	    w->count == UINT32_MAX ||
	    w->raw_total + raw_len > ENVELOPE_PULL_MAX_RAW) {
		log_warnx("pull: refusing a bad entry (room, hub_seq or size)");
		return RK_EINVAL;
	}
	if ((rc = buf_le(&w->b, hub_seq, 8)) != 0 ||
	    (rc = buf_le(&w->b, (uint64_t)rlen, 1)) != 0 ||
	    (rc = buf_append(&w->b, room, (size_t)rlen)) != 0 ||
	    (rc = buf_le(&w->b, raw_len, 4)) != 0 ||
	    (rc = buf_le(&w->b, 0, 4)) != 0)	/* z_len, set below */
		return rc;
	*zoff = w->b.len;
	return 0;
}

int
pull_writer_add(struct pull_writer *w, uint64_t hub_seq, const char *room,
    const uint8_t *changeset, size_t len)
{
	size_t start = w->b.len, zoff;
	ZSTD_CCtx *cctx;
	int rc;

	if (changeset == NULL && len > 0)
		return RK_EINVAL;
	if ((rc = pull_entry_head(w, hub_seq, room, len, &zoff)) != 0)
		goto out;
	if ((cctx = env_cctx()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = env_deflate(cctx, ENVELOPE_DICT_NONE, changeset, len,
	    &w->b)) != 0)
		goto out;
	le_put(w->b.data + zoff - 4, w->b.len - zoff, 4);
	w->count++;
	w->raw_total += len;
out:
	if (rc != 0)
		w->b.len = start;	/* the writer stays as it was */
	return rc;
}

int
pull_writer_add_frame(struct pull_writer *w, uint64_t hub_seq,
    const char *room, const uint8_t *frame, size_t zlen)
{
	size_t start = w->b.len, zoff;
	uint64_t raw_len;
	int rc;

	if ((rc = pull_frame_size(frame, zlen, &raw_len)) != 0 ||
	    (rc = pull_entry_head(w, hub_seq, room, raw_len, &zoff)) != 0 ||
	    (rc = buf_append(&w->b, frame, zlen)) != 0)
		goto out;
	le_put(w->b.data + zoff - 4, zlen, 4);
	w->count++;
	w->raw_total += raw_len;
out:
	if (rc != 0)
		w->b.len = start;
	return rc;
}

int
pull_frame_make(const uint8_t *changeset, size_t len, struct buf *out)
{
	ZSTD_CCtx *cctx;
	int rc;

	if ((rc = env_init()) != 0)
		return rc;
	if (len > WIRE_MAX_RAW || (changeset == NULL && len > 0))
		return RK_EINVAL;
	if ((cctx = env_cctx()) == NULL)
		return RK_ENOMEM;
	return env_deflate(cctx, ENVELOPE_DICT_NONE, changeset, len, out);
}

int
pull_frame_is(const uint8_t *p, size_t n)
{
	return p != NULL && n >= 4 && le_get(p, 4) == ZSTD_MAGICNUMBER;
}

int
pull_frame_size(const uint8_t *frame, size_t zlen, uint64_t *raw_len)
{
	unsigned long long fcs;
	size_t r;

	if (!pull_frame_is(frame, zlen) || zlen < ENV_FRAME_MIN)
		return RK_EPROTO;
	r = ZSTD_findFrameCompressedSize(frame, zlen);
	if (ZSTD_isError(r) || r != zlen)
		return RK_EPROTO;
	fcs = ZSTD_getFrameContentSize(frame, zlen);
	if (fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs == ZSTD_CONTENTSIZE_ERROR ||
	    fcs > WIRE_MAX_RAW || ZSTD_getDictID_fromFrame(frame, zlen) != 0)
		return RK_EPROTO;
	*raw_len = fcs;
	return 0;
}

int
pull_frame_inflate(const uint8_t *frame, size_t zlen, uint8_t **out,
    size_t *len)
{
	struct rk_why why = { "" };
	ZSTD_DCtx *dctx;
	uint64_t raw_len;
	int rc;

	if ((rc = env_init()) != 0)
		return rc;
	if ((rc = pull_frame_size(frame, zlen, &raw_len)) != 0)
		return rc;
	if ((dctx = env_dctx()) == NULL)
		return RK_ENOMEM;
	if ((rc = env_inflate(dctx, ENVELOPE_DICT_NONE, frame, zlen,
	    (uint32_t)raw_len, out, &why)) != 0) {
		log_warnx("pull frame: %s", why.text);
		return rc;
	}
	*len = (size_t)raw_len;
	return 0;
}

int
pull_writer_finish(struct pull_writer *w, const uint8_t hub_sign_sk[64],
    struct buf *out)
{
	int rc;

	le_put(w->b.data + w->count_off, w->count, 4);
	if ((rc = env_sign_append(&w->b, hub_sign_sk)) == 0)
		rc = buf_append(out, w->b.data + sizeof(WIRE_SIG_PULL),
		    w->b.len - sizeof(WIRE_SIG_PULL));
	pull_writer_free(w);
	return rc;
}

void
pull_writer_free(struct pull_writer *w)
{
	if (w == NULL)
		return;
	buf_release(&w->b);
	free(w);
}

/* One entry's framing: fills pe's hub_seq and room, and the frame's
 * place and sizes; decompresses nothing. */
static int
pull_entry_parse(struct rd *rd, size_t i, struct pull_entry *pe,
    const uint8_t **frame, uint64_t *raw_len, uint64_t *z_len,
    struct rk_why *why)
{
	const uint8_t *q;
	uint64_t rlen;

	if (rd_le(rd, 8, &pe->hub_seq) != 0 || pe->hub_seq > ENV_I64_MAX ||
	    rd_le(rd, 1, &rlen) != 0 || rd_take(rd, rlen, &q) != 0 ||
	    !env_id_ok(q, rlen, 0) || rd_le(rd, 4, raw_len) != 0 ||
	    rd_le(rd, 4, z_len) != 0)
		return rk_whyf(why, RK_EPROTO, "pull entry %zu is malformed", i);
	memcpy(pe->room, q, rlen);
	pe->room[rlen] = '\0';
	if (*raw_len > WIRE_MAX_RAW)
		return rk_whyf(why, RK_EPROTO, "pull entry %zu: raw_len %llu is "
		    "over the limit", i, (unsigned long long)*raw_len);
	if (rd_take(rd, *z_len, frame) != 0)
		return rk_whyf(why, RK_EPROTO, "pull entry %zu: z_len %llu does "
		    "not fit", i, (unsigned long long)*z_len);
	return 0;
}

int
pull_decode_why(const uint8_t *p, size_t n, const uint8_t hub_sign_pk[32],
    struct pull_response *out, struct rk_why *why)
{
	struct pull_response r = { 0, 0, NULL, NULL, 0 };
	struct pull_entry scratch;
	struct rd rd;
	const uint8_t *q, *frame;
	uint64_t clen, count, raw_len, z_len, raw_total = 0;
	ZSTD_DCtx *dctx = NULL;
	size_t i, entries_off;
	int rc;

	if ((rc = env_init()) != 0)
		return rk_whyf(why, rc, "cannot initialise");
	if (p == NULL || n < PULL_HEAD_FIXED + PULL_CTL_MIN + 4 + ENV_SIG_LEN)
		return rk_whyf(why, RK_EPROTO, "a pull response of %zu bytes "
		    "is impossible", n);
	/* Not a byte is read before this. */
	if ((rc = env_verify(WIRE_SIG_PULL, sizeof(WIRE_SIG_PULL), p, n,
	    hub_sign_pk)) != 0)
		return rk_whyf(why, rc, rc == RK_EAUTH ? "pull response "
		    "signature does not verify" : "out of memory");
	rd.p = p;
	rd.n = n - ENV_SIG_LEN;
	rd.off = 0;
	if (rd_take(&rd, 4, &q) != 0 || memcmp(q, WIRE_PULL_MAGIC, 4) != 0)
		return rk_whyf(why, RK_EPROTO, "not a pull response (magic)");
	if (rd_le(&rd, 8, &r.next_cursor) != 0 || rd_le(&rd, 8, &r.head) != 0 ||
	    rd_le(&rd, 4, &clen) != 0 || rd_take(&rd, clen, &q) != 0 ||
	    !pull_ctl_ok((const char *)q, clen))
		return rk_whyf(why, RK_EPROTO, "pull response head or ctl JSON "
		    "is malformed");
	if (r.next_cursor > ENV_I64_MAX || r.head > ENV_I64_MAX)
		return rk_whyf(why, RK_EPROTO, "pull response cursor is out of "
		    "range");
	if (rd_le(&rd, 4, &count) != 0 ||
	    count > (rd.n - rd.off) / PULL_ENTRY_MIN)
		return rk_whyf(why, RK_EPROTO, "pull response count does not "
		    "fit");
	/* First the framing and sizes of every entry, before any memory is
	 * given to them. */
	entries_off = rd.off;
	for (i = 0; i < count; i++) {
		if ((rc = pull_entry_parse(&rd, i, &scratch, &frame, &raw_len,
		    &z_len, why)) != 0)
			return rc;
		if ((raw_total += raw_len) > ENVELOPE_PULL_MAX_RAW)
			return rk_whyf(why, RK_EPROTO, "pull response holds "
			    "more than %u bytes", ENVELOPE_PULL_MAX_RAW);
	}
	if (rd.off != rd.n)
		return rk_whyf(why, RK_EPROTO, "%zu bytes follow the last pull "
		    "entry", rd.n - rd.off);
	if ((r.ctl_json = malloc(clen + 1)) == NULL ||
	    (count > 0 && (r.entries = calloc(count, sizeof(*r.entries))) ==
	    NULL) || (count > 0 && (dctx = env_dctx()) == NULL)) {
		rc = rk_whyf(why, RK_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(r.ctl_json, q, clen);
	r.ctl_json[clen] = '\0';
	rd.off = entries_off;
	for (i = 0; i < count; i++) {
		struct pull_entry *pe = &r.entries[i];

		if ((rc = pull_entry_parse(&rd, i, pe, &frame, &raw_len,
		    &z_len, why)) != 0 ||
		    (rc = env_inflate(dctx, ENVELOPE_DICT_NONE, frame, z_len,
		    (uint32_t)raw_len, &pe->changeset, why)) != 0)
			goto out;
		pe->changeset_len = raw_len;
		r.count = i + 1;	/* what pull_response_release frees */
	}
	*out = r;	/* the caller's: pull_response_release */
	memset(&r, 0, sizeof(r));
	rc = 0;
out:
	pull_response_release(&r);
	return rc;
}

int
pull_decode(const uint8_t *p, size_t n, const uint8_t hub_sign_pk[32],
    struct pull_response *out)
{
	struct rk_why why = { "" };
	int rc;

	if ((rc = pull_decode_why(p, n, hub_sign_pk, out, &why)) != 0)
		log_warnx("pull: %s", why.text);
	return rc;
}

void
pull_response_release(struct pull_response *r)
{
	size_t i;

	if (r == NULL)
		return;
	/* Entries past count were never filled: calloc left them NULL. */
	for (i = 0; r->entries != NULL && i < r->count; i++)
		free(r->entries[i].changeset);
	free(r->entries);
	free(r->ctl_json);
	memset(r, 0, sizeof(*r));
}
