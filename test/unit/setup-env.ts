// Unit tests see no state of the machine they run on: no tool-version cache (see src/virtnbd/tool-version.ts).
process.env['VMKEEP_CACHE_DIR'] = '';
