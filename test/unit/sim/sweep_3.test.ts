// CI sweep, part 3 of 4: seeds 1101-1650 of the simulator over the kv and counter machines.
import { sweepPart } from './sweep.js';

sweepPart(1101, 550);
