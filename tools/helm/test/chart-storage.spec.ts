import { HelmError } from '../src/helm.errors';
import { K8sObject, kinds, one } from '../src/manifests';
import { Any, render } from './chart.harness';

/** storage.type: where outputs live (a shared volume, or a bucket with nothing shared). */
const deployment = (objects: K8sObject[], name: string): Any => one(objects, 'Deployment', name);
const pod = (objects: K8sObject[], name: string): Any => deployment(objects, name).spec.template.spec;
const envOf = (objects: K8sObject[], name: string): Any[] => pod(objects, name).containers[0].env ?? [];

let s3: K8sObject[];

beforeAll(async () => {
  s3 = await render(['ci/s3-values.yaml']);
});

describe('storage.type=s3', () => {
  it('configures the bucket in the ConfigMap, the keys from the Secret only', () => {
    const data = (one(s3, 'ConfigMap', 't2v') as Any).data;
    expect(data).toMatchObject({
      T2V_STORAGE_URL: 's3://t2v-media/outputs',
      T2V_S3_ENDPOINT: 'http://seaweedfs.storage:8333',
      T2V_S3_PUBLIC_ENDPOINT: 'https://media.example.com',
      T2V_S3_REGION: 'eu-west-1',
      T2V_S3_FORCE_PATH_STYLE: 'true',
      T2V_STORAGE_DOWNLOAD: 'redirect',
    });
    expect(JSON.stringify(data)).not.toMatch(/AWS_/);
    for (const name of ['t2v', 't2v-gpu']) {
      const keys = envOf(s3, name).filter((e: Any) => e.name.startsWith('AWS_'));
      expect(keys).toEqual([
        { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 't2v-s3', key: 'access-key-id' } } },
        {
          name: 'AWS_SECRET_ACCESS_KEY',
          valueFrom: { secretKeyRef: { name: 't2v-s3', key: 'secret-access-key' } },
        },
      ]);
    }
  });

  it('mounts no shared volume: no claim, and both tiers write to an emptyDir scratch', () => {
    expect(kinds(s3, 'PersistentVolumeClaim')).toEqual([]);
    expect(kinds(s3, 'PersistentVolume')).toEqual([]);
    for (const name of ['t2v', 't2v-gpu']) {
      const volumes = pod(s3, name).volumes;
      expect(volumes.some((v: Any) => v.persistentVolumeClaim)).toBe(false);
      expect(volumes.find((v: Any) => v.name === 'scratch')).toEqual({
        name: 'scratch',
        emptyDir: { sizeLimit: '20Gi' },
      });
      expect(pod(s3, name).containers[0].volumeMounts).toContainEqual({
        name: 'scratch',
        mountPath: '/data',
      });
    }
  });

  it('without a Secret the pods use their own identity (workload identity): no AWS_* variable', async () => {
    const objects = await render(['ci/s3-values.yaml'], {
      'storage.s3.existingSecret': '',
      'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn': 'arn:aws:iam::123456789012:role/t2v',
    });
    for (const name of ['t2v', 't2v-gpu'])
      expect(envOf(objects, name).filter((e: Any) => e.name.startsWith('AWS_'))).toEqual([]);
    expect((one(objects, 'ServiceAccount', 't2v') as Any).metadata.annotations).toMatchObject({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/t2v',
    });
  });

  it('refuses a bucket-less s3, and s3 with the embedded queue, naming the value', async () => {
    await expect(render(['ci/s3-values.yaml'], { 'storage.s3.bucket': '' })).rejects.toThrow(
      /storage.type=s3: set storage.s3.bucket/,
    );
    await expect(render([], { 'storage.type': 's3', 'storage.s3.bucket': 't2v-media' })).rejects.toThrow(
      /storage.type=s3: .*set queue.driver=redis/,
    );
    await expect(render([], { 'storage.type': 'nfs' })).rejects.toThrow(HelmError);
  });
});
