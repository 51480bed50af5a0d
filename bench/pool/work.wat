;; The block benchmark's heavy call: `move(from, to, rounds)` moves one unit between two
;; accounts' 8-byte counters (keys "w" + 4 bytes of the account number, little-endian, as
;; block_bench.py declares them) after `rounds` rounds of xorshift mixing, whose result is the
;; call's output. It reads and writes state as a token transfer does, at a CPU cost set by
;; `rounds`. Built by build.sh (wat2wasm).
(module
  (import "env" "get_state" (func $get_state (param i32 i32 i32 i32) (result i32)))
  (import "env" "put_state" (func $put_state (param i32 i32 i32 i32)))
  (import "env" "set_output" (func $set_output (param i32 i32)))
  (memory (export "memory") 1)
  ;; 0..4: key of `from`, 8..12: key of `to`, 16: its value, 24: to's value, 32: the output
  (data (i32.const 0) "w")
  (data (i32.const 8) "w")
  (func $mix (param $x i64) (param $n i32) (result i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $x))
  (func (export "move") (param $from i32) (param $to i32) (param $rounds i32)
    (i32.store (i32.const 1) (local.get $from))
    (i32.store (i32.const 9) (local.get $to))
    (drop (call $get_state (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8)))
    (drop (call $get_state (i32.const 8) (i32.const 5) (i32.const 24) (i32.const 8)))
    (i64.store (i32.const 32)
      (call $mix (i64.or (i64.xor (i64.load (i32.const 16)) (i64.load (i32.const 24))) (i64.const 1))
                 (local.get $rounds)))
    (i64.store (i32.const 16) (i64.sub (i64.load (i32.const 16)) (i64.const 1)))
    (i64.store (i32.const 24) (i64.add (i64.load (i32.const 24)) (i64.const 1)))
    (call $put_state (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8))
    (call $put_state (i32.const 8) (i32.const 5) (i32.const 24) (i32.const 8))
    (call $set_output (i32.const 32) (i32.const 8)))
)
