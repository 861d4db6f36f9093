import { Logger } from '@nestjs/common';

import { createLogger, setRootLogger } from '../../src/logging/logger';

// Supervisor and scheduler log every restart on purpose; tests assert on state, not on log lines
// (a test about logging makes its own logger).
Logger.overrideLogger(false);
setRootLogger(createLogger({ level: 'silent' }));
