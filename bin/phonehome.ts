#!/usr/bin/env node
import { main } from "../src/compose/cli/main.ts";

process.exitCode = await main(process.argv);
