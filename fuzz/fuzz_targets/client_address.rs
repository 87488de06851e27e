#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() <= buttress_fuzz::MAX_INPUT {
        buttress_fuzz::client_address(data);
    }
});
