// CI sweep, part 4 of 4: seeds 1651-2200 of the simulator over the kv and counter machines.
import { sweepPart } from './sweep.js';

sweepPart(1651, 550);
