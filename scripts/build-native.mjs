#!/usr/bin/env node
// Builds native/ with @napi-rs/cli. Filled in by the native backend work.
console.log('[build-native] not built yet');
