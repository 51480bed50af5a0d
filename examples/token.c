/*
 * A fungible token: the contract `make run` deploys.
 *
 * Accounts are byte strings (a call's account is its caller). Inputs are
 * short texts, so that the CLI can send them with --text:
 *
 *   mint          "ACCOUNT AMOUNT"  the owner creates tokens (the first minter becomes the owner)
 *   transfer      "TO AMOUNT"       moves tokens from the caller to TO; reverts when short
 *   balance_of    "ACCOUNT"         returns the balance (i64) and outputs it as text
 *   total_supply  ()                returns the total supply (i64)
 *
 * State: "bal:" + account -> balance (8 bytes, little endian); "supply";
 * "owner". A transfer reads both balances and writes both, so concurrent
 * transfers between the same accounts conflict and the broker re-executes
 * the later one against fresh state: no token is ever created or lost.
 */
#include "wasmpool.h"

typedef unsigned long long u64;

#define MAX_ACCOUNT 64
#define MAX_INPUT 128

static const char BALANCE[] = "bal:";
static const char SUPPLY[] = "supply";
static const char OWNER[] = "owner";

typedef struct {
    char bytes[sizeof(BALANCE) - 1 + MAX_ACCOUNT];
    int32_t len;
} Key;

/* "bal:" + account. */
static Key balance_key(const char *account, int32_t len) {
    Key key;
    int32_t prefix = sizeof(BALANCE) - 1;
    for (int32_t i = 0; i < prefix; i++) key.bytes[i] = BALANCE[i];
    for (int32_t i = 0; i < len; i++) key.bytes[prefix + i] = account[i];
    key.len = prefix + len;
    return key;
}

static u64 load_u64(const void *key, int32_t key_len) {
    unsigned char buf[8];
    int32_t n = wp_get_state(key, key_len, buf, sizeof buf);
    if (n < 0) return 0;
    if (n != 8) wp_revert_str("corrupt state: a number is not 8 bytes");
    u64 v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | buf[i];
    return v;
}

static void store_u64(const void *key, int32_t key_len, u64 v) {
    unsigned char buf[8];
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(v >> (8 * i));
    wp_put_state(key, key_len, buf, sizeof buf);
}

static u64 balance(const char *account, int32_t len) {
    Key key = balance_key(account, len);
    return load_u64(key.bytes, key.len);
}

static void set_balance(const char *account, int32_t len, u64 v) {
    Key key = balance_key(account, len);
    store_u64(key.bytes, key.len, v);
}

/* The input: "ACCOUNT" alone, or "ACCOUNT AMOUNT" when amount is wanted. */
typedef struct {
    char text[MAX_INPUT];
    int32_t account_len;
    u64 amount;
} Input;

static u64 parse_amount(const char *s, int32_t len) {
    if (len == 0 || len > 19) wp_revert_str("bad amount: expected 1 to 19 decimal digits");
    u64 v = 0;
    for (int32_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') wp_revert_str("bad amount: expected decimal digits");
        v = v * 10 + (u64)(s[i] - '0');
    }
    return v;
}

static Input read_input(int with_amount) {
    Input in;
    int32_t len = wp_input_len();
    if (len > MAX_INPUT) wp_revert_str("input too long");
    wp_get_input(in.text, MAX_INPUT);
    int32_t space = len;
    if (with_amount) {
        while (space > 0 && in.text[space - 1] != ' ') space--;
        if (space == 0) wp_revert_str("bad input: expected 'ACCOUNT AMOUNT'");
        in.amount = parse_amount(in.text + space, len - space);
        space--;
    }
    if (space == 0 || space > MAX_ACCOUNT) wp_revert_str("bad account: expected 1 to 64 bytes");
    in.account_len = space;
    return in;
}

static int32_t read_caller(char *dst) {
    int32_t len = wp_caller(dst, MAX_ACCOUNT);
    if (len == 0 || len > MAX_ACCOUNT) wp_revert_str("bad caller: expected 1 to 64 bytes");
    return len;
}

static int same(const char *a, int32_t a_len, const char *b, int32_t b_len) {
    if (a_len != b_len) return 0;
    for (int32_t i = 0; i < a_len; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Decimal text of v into buf (at least 20 bytes); returns its length. */
static int32_t format_u64(u64 v, char *buf) {
    char tmp[20];
    int32_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int32_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

WP_EXPORT(mint) void mint(void) {
    Input in = read_input(1);
    char who[MAX_ACCOUNT];
    int32_t who_len = read_caller(who);
    char owner[MAX_ACCOUNT];
    int32_t owner_len = wp_get_state(OWNER, sizeof OWNER - 1, owner, MAX_ACCOUNT);
    if (owner_len < 0)
        wp_put_state(OWNER, sizeof OWNER - 1, who, who_len);
    else if (!same(owner, owner_len, who, who_len))
        wp_revert_str("only the owner may mint");
    u64 old = balance(in.text, in.account_len);
    if (old + in.amount < old) wp_revert_str("balance overflow");
    set_balance(in.text, in.account_len, old + in.amount);
    store_u64(SUPPLY, sizeof SUPPLY - 1, load_u64(SUPPLY, sizeof SUPPLY - 1) + in.amount);
    wp_log_str("mint");
}

WP_EXPORT(transfer) void transfer(void) {
    Input in = read_input(1);
    char from[MAX_ACCOUNT];
    int32_t from_len = read_caller(from);
    u64 have = balance(from, from_len);
    if (have < in.amount) wp_revert_str("insufficient balance");
    if (same(from, from_len, in.text, in.account_len)) return;
    u64 to_have = balance(in.text, in.account_len);
    set_balance(from, from_len, have - in.amount);
    set_balance(in.text, in.account_len, to_have + in.amount);
    wp_log_str("transfer");
}

WP_EXPORT(balance_of) int64_t balance_of(void) {
    Input in = read_input(0);
    u64 v = balance(in.text, in.account_len);
    char text[20];
    wp_set_output(text, format_u64(v, text));
    return (int64_t)v;
}

WP_EXPORT(total_supply) int64_t total_supply(void) {
    return (int64_t)load_u64(SUPPLY, sizeof SUPPLY - 1);
}
