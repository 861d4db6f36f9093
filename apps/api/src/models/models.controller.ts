import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';

import { ApiError } from '../common/api-error';
import { errorResponses, ref } from '../wire/openapi-refs';
import { ModelsService } from './models.service';

@ApiTags('models')
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  @ApiOperation({
    summary: 'List models',
    description: 'The loaded model and its presets, then one entry per alias (T2V_MODEL_ALIASES).',
  })
  @ApiResponse({ status: 200, schema: ref('ModelList') })
  @errorResponses(401)
  list() {
    return { object: 'list' as const, data: this.models.list() };
  }

  @Get(':id')
  @ApiOperation({ summary: 'Retrieve a model', description: 'By id or alias.' })
  @ApiResponse({ status: 200, schema: ref('Model') })
  @errorResponses(401, 404)
  retrieve(@Param('id') id: string) {
    if (!this.models.has(id)) throw ApiError.notFound('model', id);
    return this.models.toObject(id);
  }
}
