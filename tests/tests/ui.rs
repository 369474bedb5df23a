//! trybuild UI tests of `#[derive(Document)]`: pass cases are compiled and run, fail cases
//! must produce exactly the recorded diagnostics. Re-record with `just ui-bless`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
