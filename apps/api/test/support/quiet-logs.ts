import { Logger } from '@nestjs/common';

// Supervisor and scheduler log every restart on purpose; tests assert on state, not on log lines.
Logger.overrideLogger(false);
