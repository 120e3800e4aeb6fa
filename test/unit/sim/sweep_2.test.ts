// CI sweep, part 2 of 4: seeds 551-1100 of the simulator over the kv and counter machines.
import { sweepPart } from './sweep.js';

sweepPart(551, 550);
