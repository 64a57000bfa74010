/*
** kvtool_svg.c - the LSM's shape as an SVG picture (kvtool shape --svg,
** kvtool info --svg).
**
** One horizontal band per level, top to bottom; the x axis is the key
** space from the store's smallest key to its largest. Each live SSTable is
** a rectangle spanning its key range in its level's band, shaded by its
** size (darker = larger), with a tooltip giving its file, size, entries and
** keys. Level-0 tables may overlap, so each gets its own row in the band
** (newest on top). Left of each band: the level, its file count and bytes,
** and a bar of its bytes against the largest level's.
**
** Keys are placed by their bytes after the prefix that every table
** boundary shares (see KeyAxis), so text keys with a common prefix
** ("user:...") and decimal digits still spread across the axis; integer
** keys are placed by their value.
*/
#include "kvtool.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SVG_W        1000
#define SVG_LEFT     190      /* labels */
#define SVG_RIGHT    20
#define SVG_TOP      70
#define SVG_ROW      26       /* a level's band (levels 1+) */
#define SVG_L0ROW    18       /* one level-0 table's row */
#define SVG_GAP      10

static const char *const azColor[] = {
  "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
  "#a6761d", "#666666"
};

static void xmlText(FILE *f, const char *z){
  for(; *z; z++){
    switch( *z ){
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '&': fputs("&amp;", f); break;
      case '"': fputs("&quot;", f); break;
      default:
        if( (unsigned char)*z>=0x20 ) fputc(*z, f);
    }
  }
}

/* The key as ktShowKey prints it, cut to nMax characters (kvFree). */
static char *keyLabel(int eKey, const u8 *p, size_t n, size_t nMax){
  char *z = 0;
  size_t nz = 0;
  FILE *m = open_memstream(&z, &nz);
  char *zOut;
  if( m==0 ) return 0;
  ktShowKey(m, eKey, p, n, 0);
  fclose(m);
  if( z && nz>nMax ){
    /* Cut on a UTF-8 character boundary. */
    size_t i = nMax;
    while( i>0 && (((unsigned char)z[i]) & 0xc0)==0x80 ) i--;
    strcpy(z+i, "...");
  }
  zOut = kvStrdup(z ? z : "");
  free(z);
  return zOut;
}

/* Keys are placed on the axis as mixed-radix numbers: at each byte
** position after the shared prefix, the digit is the byte's rank among
** the bytes the table boundaries use there (0 = the key has ended). So
** decimal text keys ("user:000123") spread evenly, as 8-byte integer keys
** do, and the order of keys is kept. */
#define SVG_NPOS 10
typedef struct KeyAxis KeyAxis;
struct KeyAxis {
  size_t nPre;                  /* bytes every boundary key shares */
  int aLo[SVG_NPOS];            /* smallest byte used at each position */
  int aRadix[SVG_NPOS];         /* its range + 2 (ended, and one past) */
  int bInteger;                 /* key_type integer: place by value */
};

static void axisAdd(KeyAxis *x, const u8 *p, size_t n){
  int i;
  for(i=0; i<SVG_NPOS && x->nPre+i<n; i++){
    int c = p[x->nPre+i];
    if( x->aRadix[i]==0 ){
      x->aLo[i] = c;
      x->aRadix[i] = 2;
    }else{
      int hi = x->aLo[i] + x->aRadix[i] - 2;
      if( c<x->aLo[i] ){ x->aRadix[i] += x->aLo[i] - c; x->aLo[i] = c; }
      if( c>hi ) x->aRadix[i] += c - hi;
    }
  }
}

static double keyVal(const KeyAxis *x, const u8 *p, size_t n){
  double v = 0, scale = 1.0;
  int i;
  if( x->bInteger && n==8 ){
    /* Integer keys: their value (the encoding flips the sign bit). */
    u64 u = 0;
    for(i=0; i<8; i++) u = (u<<8) | p[i];
    return (double)(int64_t)(u ^ ((u64)1<<63));
  }
  for(i=0; i<SVG_NPOS; i++){
    int r = x->aRadix[i] ? x->aRadix[i] : 1;
    int d = x->nPre+i<n ? p[x->nPre+i] - x->aLo[i] + 1 : 0;
    if( d<0 ) d = 0;
    if( d>r-1 ) d = r-1;
    scale /= r;
    v += d * scale;
  }
  return v;
}

int ktWriteSvg(const char *zPath, const char *zStore, int eKey, int nLevel,
               const kv_sstable_info *aInfo, int nInfo){
  FILE *f = fopen(zPath, "w");
  const u8 *pMin = 0, *pMax = 0;
  size_t nMin = 0, nMax = 0;
  KeyAxis ax;
  double vMin, vMax, span;
  u64 anByte[KV_MAX_LEVELS], nMaxFile = 1, nMaxLevel = 1, nTotal = 0;
  int anFile[KV_MAX_LEVELS];
  int aY[KV_MAX_LEVELS], aH[KV_MAX_LEVELS];
  int nShow = 2, i, y, nHeight;
  double axis = SVG_W - SVG_LEFT - SVG_RIGHT;
  char *zLo, *zHi;

  if( f==0 ) return 1;
  memset(anByte, 0, sizeof(anByte));
  memset(anFile, 0, sizeof(anFile));
  for(i=0; i<nInfo; i++){
    const kv_sstable_info *p = &aInfo[i];
    anByte[p->iLevel] += p->nByte;
    anFile[p->iLevel]++;
    nTotal += p->nByte;
    if( p->nByte>nMaxFile ) nMaxFile = p->nByte;
    if( p->iLevel+1>nShow ) nShow = p->iLevel+1;
    if( pMin==0 || memcmp(p->pSmallest, pMin, p->nSmallest<nMin ? p->nSmallest : nMin)<0
     || (memcmp(p->pSmallest, pMin, p->nSmallest<nMin ? p->nSmallest : nMin)==0
         && p->nSmallest<nMin) ){
      pMin = p->pSmallest;
      nMin = p->nSmallest;
    }
    if( pMax==0 || memcmp(p->pLargest, pMax, p->nLargest<nMax ? p->nLargest : nMax)>0
     || (memcmp(p->pLargest, pMax, p->nLargest<nMax ? p->nLargest : nMax)==0
         && p->nLargest>nMax) ){
      pMax = p->pLargest;
      nMax = p->nLargest;
    }
  }
  if( nShow>nLevel ) nShow = nLevel;
  for(i=0; i<nShow; i++) if( anByte[i]>nMaxLevel ) nMaxLevel = anByte[i];
  memset(&ax, 0, sizeof(ax));
  ax.bInteger = eKey==KV_KEY_INTEGER;
  while( pMin && ax.nPre<nMin && ax.nPre<nMax && pMin[ax.nPre]==pMax[ax.nPre] ){
    ax.nPre++;
  }
  for(i=0; i<nInfo; i++){
    axisAdd(&ax, aInfo[i].pSmallest, aInfo[i].nSmallest);
    axisAdd(&ax, aInfo[i].pLargest, aInfo[i].nLargest);
  }
  vMin = pMin ? keyVal(&ax, pMin, nMin) : 0;
  vMax = pMax ? keyVal(&ax, pMax, nMax) : 1;
  span = vMax>vMin ? vMax - vMin : 1;

  /* Band geometry. */
  y = SVG_TOP;
  for(i=0; i<nShow; i++){
    aY[i] = y;
    aH[i] = i==0 ? (anFile[0]>0 ? anFile[0]*SVG_L0ROW + 8 : SVG_ROW) : SVG_ROW + 8;
    y += aH[i] + SVG_GAP;
  }
  nHeight = y + 60;

  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, "
          "Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
          SVG_W, nHeight, SVG_W, nHeight);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
  fprintf(f, "<text x=\"16\" y=\"28\" font-size=\"18\" font-weight=\"bold\">"
          "LSM shape of ");
  xmlText(f, zStore);
  fprintf(f, "</text>\n<text x=\"16\" y=\"50\" fill=\"#555\">%d SSTable%s, "
          "%s in all; one band per level, each table a rectangle over its "
          "key range, darker = larger</text>\n", nInfo, nInfo==1 ? "" : "s",
          ktSize(nTotal));

  for(i=0; i<nShow; i++){
    const char *zCol = azColor[i % 8];
    double w = 120.0 * (double)anByte[i] / (double)nMaxLevel;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
            "fill=\"#f4f4f4\" stroke=\"#dddddd\"/>\n", SVG_LEFT-4, aY[i],
            (int)axis+8, aH[i]);
    fprintf(f, "<text x=\"16\" y=\"%d\" font-weight=\"bold\" fill=\"%s\">L%d"
            "</text>", aY[i]+15, zCol, i);
    fprintf(f, "<text x=\"44\" y=\"%d\">%d file%s, %s</text>\n", aY[i]+15,
            anFile[i], anFile[i]==1 ? "" : "s", ktSize(anByte[i]));
    fprintf(f, "<rect x=\"44\" y=\"%d\" width=\"%.1f\" height=\"5\" "
            "fill=\"%s\"/>\n", aY[i]+21, w<1 && anByte[i] ? 1.0 : w, zCol);
  }

  {
    int iL0 = 0;
    for(i=0; i<nInfo; i++){
      const kv_sstable_info *p = &aInfo[i];
      double x0, x1, op;
      int yy, hh;
      char *zS, *zL;
      if( p->iLevel>=nShow ) continue;
      x0 = (keyVal(&ax, p->pSmallest, p->nSmallest) - vMin) / span;
      x1 = (keyVal(&ax, p->pLargest, p->nLargest) - vMin) / span;
      x0 = SVG_LEFT + x0*axis;
      x1 = SVG_LEFT + x1*axis;
      if( x1 - x0 < 3 ){ x1 = x0 + 3; }
      if( x1 > SVG_LEFT + axis + 2 ){ x0 -= x1 - (SVG_LEFT + axis + 2); x1 = SVG_LEFT + axis + 2; }
      if( p->iLevel==0 ){
        yy = aY[0] + 4 + iL0*SVG_L0ROW;
        hh = SVG_L0ROW - 3;
        iL0++;
      }else{
        yy = aY[p->iLevel] + 4;
        hh = aH[p->iLevel] - 8;
      }
      op = 0.3 + 0.65 * (double)p->nByte / (double)nMaxFile;
      zS = keyLabel(eKey, p->pSmallest, p->nSmallest, 60);
      zL = keyLabel(eKey, p->pLargest, p->nLargest, 60);
      fprintf(f, "<g><title>L%d %s: %s, %" PRIu64 " entries (%" PRIu64
              " tombstones), keys ", p->iLevel, p->zFile, ktSize(p->nByte),
              p->nEntry, p->nTombstone);
      xmlText(f, zS ? zS : "");
      fputs(" .. ", f);
      xmlText(f, zL ? zL : "");
      fprintf(f, "</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
              "height=\"%d\" rx=\"2\" fill=\"%s\" fill-opacity=\"%.2f\" "
              "stroke=\"%s\"/>", x0, yy, x1-x0, hh, azColor[p->iLevel % 8],
              op, azColor[p->iLevel % 8]);
      if( x1 - x0 > 110 ){
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" "
                "fill=\"#000\">%.*s %s</text>", x0+4, yy+hh/2+4,
                (int)strcspn(p->zFile, "."), p->zFile, ktSize(p->nByte));
      }
      fputs("</g>\n", f);
      kvFree(zS);
      kvFree(zL);
    }
  }

  /* Key axis. */
  y = aY[nShow-1] + aH[nShow-1] + 14;
  fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
          SVG_LEFT, y, SVG_LEFT+(int)axis, y);
  zLo = pMin ? keyLabel(eKey, pMin, nMin, 40) : kvStrdup("(no keys)");
  zHi = pMax ? keyLabel(eKey, pMax, nMax, 40) : kvStrdup("");
  fprintf(f, "<text x=\"%d\" y=\"%d\">", SVG_LEFT, y+16);
  xmlText(f, zLo ? zLo : "");
  fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"end\">",
          SVG_LEFT+(int)axis, y+16);
  xmlText(f, zHi ? zHi : "");
  fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
          "fill=\"#555\">key (%s)</text>\n", SVG_LEFT+(int)axis/2, y+16,
          eKey==KV_KEY_INTEGER ? "integer" : eKey==KV_KEY_BLOB ? "blob" : "text");
  fputs("</svg>\n", f);
  kvFree(zLo);
  kvFree(zHi);
  return fclose(f)!=0;
}
