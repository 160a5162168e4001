/** The browser-safe data layer: decoding, preprocessing, Omniglot, image folders, splits. */
export { DatasetError } from './errors.js';
export { readZip, checkRelativePath, crc32, DEFAULT_ZIP_LIMITS, type ZipEntry, type ZipLimits } from './zip.js';
export {
  decodeImage,
  decodePngImage,
  decodeJpegImage,
  sniffImageFormat,
  pngSamplesToImage,
  preprocessPixels,
  preprocessImage,
  resizeArea,
  areaWeights,
  DEFAULT_MAX_PIXELS,
  type ChannelMode,
  type Pixels,
  type DecodedImage,
  type PreprocessOptions,
  type DecodeOptions,
  type ImageFormat,
} from './image.js';
export { decodePngSamples, decodePngSamplesWithFastPng, hasPngSignature, type PngSamples } from './png.js';
export {
  ROTATIONS,
  StoredImageClass,
  storedClassSet,
  rotatedName,
  writeRotated,
  type Rotation,
  type ImageClass,
  type ImageClassSet,
  type StoredClass,
} from './image-class.js';
export {
  decodeOmniglotArchive,
  decodeOmniglotFiles,
  mergeOmniglot,
  omniglotPixels,
  omniglotRoot,
  OMNIGLOT_PIXELS,
  OMNIGLOT_DECODE_VERSION,
  OMNIGLOT_DEFAULT_SIZE,
  type OmniglotCharacter,
  type OmniglotData,
  type OmniglotDecodeOptions,
} from './omniglot.js';
export {
  splitOmniglot,
  OMNIGLOT_SPLIT_SCHEMES,
  OMNIGLOT_SPLIT_SIZES,
  DEFAULT_SPLIT_SEED,
  type OmniglotSplitScheme,
  type OmniglotSplitOptions,
  type OmniglotSplits,
} from './splits.js';
export {
  ImageFolderBuilder,
  decodeImageFolderFiles,
  decodeImageFolderArchive,
  imageFolderClassSet,
  parseImageFolderPath,
  resolvedImageFolderOptions,
  IMAGE_EXTENSIONS,
  IMAGE_FOLDER_DECODE_VERSION,
  type ImageFolderData,
  type ImageFolderOptions,
  type ImageFolderPath,
  type ImageFolderClassSetOptions,
} from './image-folder.js';
