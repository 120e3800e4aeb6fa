// CI sweep, part 1 of 4: seeds 1-550 of the simulator over the kv and counter machines.
import { sweepPart } from './sweep.js';

sweepPart(1, 550);
