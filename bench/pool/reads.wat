;; The pool benchmark's contract: `reads(n)` reads n distinct keys ("key" + 4 bytes of i),
;; so (time of reads(n) - time of reads(0)) / n is one get_state round trip to the broker.
;; `noop()` is the trivial call. Built by build.sh (wat2wasm).
(module
  (import "env" "get_state" (func $get_state (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key")
  (func (export "noop"))
  (func (export "reads") (param $n i32) (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store (i32.const 3) (local.get $i))
        (drop (call $get_state (i32.const 0) (i32.const 7) (i32.const 64) (i32.const 64)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
)
