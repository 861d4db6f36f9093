import { Module } from '@nestjs/common';

import { StorageService } from './storage.service';

/** The output root: the only module that touches it. */
@Module({ providers: [StorageService], exports: [StorageService] })
export class StorageModule {}
